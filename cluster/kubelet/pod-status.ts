import type { PodCondition } from './types.ts';

/**
 * The kubelet-owned part of a pod's status (pkg/kubelet/status/generate.go and getPhase):
 * conditions PodReadyToStartContainers, Initialized, ContainersReady, Ready, and the phase.
 */
export interface ContainerSummary {
  running: boolean;
  ready: boolean;
  /** Exit code of the last run when terminated. */
  exitCode: number | undefined;
  /** Has run at least once (running now, terminated, or restarting). */
  everRan: boolean;
  /** Will not be started again (terminated and restartPolicy says no, or the pod is terminating). */
  final: boolean;
}

export interface PodSummary {
  sandboxReady: boolean;
  initialized: boolean;
  initFailed: boolean;
  containers: ContainerSummary[];
  /** readinessGates: condition types that must be True in the pod's status for Ready. */
  readinessGates: string[];
  existingConditions: PodCondition[];
  /** The pod was deleted and none of its containers runs any more. */
  terminated?: boolean;
}

export function podPhase(s: PodSummary): string {
  if (s.initFailed) return 'Failed';
  // A deleted pod ends terminal: Succeeded only when every container ran and exited 0.
  if (s.terminated) {
    return s.initialized && s.containers.length > 0 && s.containers.every((c) => c.exitCode === 0)
      ? 'Succeeded'
      : 'Failed';
  }
  if (!s.initialized) return 'Pending';
  const cs = s.containers;
  if (cs.length > 0 && cs.every((c) => c.final && c.exitCode !== undefined)) {
    return cs.every((c) => c.exitCode === 0) ? 'Succeeded' : 'Failed';
  }
  if (cs.some((c) => c.running || c.everRan)) return 'Running';
  return 'Pending';
}

export function kubeletConditions(s: PodSummary): { type: string; status: boolean; reason?: string }[] {
  const containersReady = s.containers.length > 0 && s.containers.every((c) => c.ready);
  const gatesMet = s.readinessGates.every((g) =>
    s.existingConditions.some((c) => c.type === g && c.status === 'True'),
  );
  return [
    { type: 'PodReadyToStartContainers', status: s.sandboxReady },
    {
      type: 'Initialized',
      status: s.initialized,
      ...(s.initialized ? {} : { reason: 'ContainersNotInitialized' }),
    },
    {
      type: 'ContainersReady',
      status: containersReady,
      ...(containersReady ? {} : { reason: 'ContainersNotReady' }),
    },
    {
      type: 'Ready',
      status: containersReady && gatesMet,
      ...(containersReady && gatesMet
        ? {}
        : { reason: containersReady ? 'ReadinessGatesNotReady' : 'ContainersNotReady' }),
    },
  ];
}

/** Keeps lastTransitionTime stable while a condition's status does not change. */
export class ConditionClock {
  readonly #times = new Map<string, { status: string; at: string }>();

  stamp(type: string, status: string, now: string): string {
    const prior = this.#times.get(type);
    if (prior && prior.status === status) return prior.at;
    this.#times.set(type, { status, at: now });
    return now;
  }
}
