// Drain observation: what each terminating pod of a CounterService reported, turned into records
// in status, events, and a recommended grace period.
//
// When a pod is deleted the kubelet runs the preStop hook, sends SIGTERM, waits up to the grace
// period, then SIGKILLs. It then writes the container's final state, terminated {exitCode, reason,
// message, finishedAt}, where message is the file at terminationMessagePath (the workload writes
// its drain report there). That final status update, or the DELETED event that carries the last
// state, is where a drain becomes observable.

import type { Change } from '../kube/reflector.ts';
import type { KubeObject } from '../kube/resources.ts';
import type { DrainRecord, DrainsStatus } from './api/types.ts';
// The label that ties a pod to its CounterService (desired/ sets it on the pod template).
import { COUNTER_SERVICE_LABEL } from './desired/labels.ts';

/** How many recent drains status keeps (also the window in which a pod is recognised again). */
export const recentDrainsKept = 10;

/** The JSON the workload writes as its termination message. */
export interface TerminationReport {
  mode?: string;
  pendingAtSignal?: number;
  completed?: number;
  abandoned?: number;
  drainMs?: number;
  exitCode?: number;
}

/** Parses the workload's termination message; undefined when it is absent or not the workload's JSON. */
export function parseTerminationMessage(text: string | undefined): TerminationReport | undefined {
  if (!text?.trim()) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const raw = parsed as Record<string, unknown>;
  const report: TerminationReport = {};
  if (typeof raw.mode === 'string') report.mode = raw.mode;
  for (const field of ['pendingAtSignal', 'completed', 'abandoned', 'drainMs', 'exitCode'] as const) {
    const value = raw[field];
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0) report[field] = value;
  }
  return Object.keys(report).length > 0 ? report : undefined;
}

export interface PodLike extends KubeObject {
  spec?: {
    terminationGracePeriodSeconds?: number;
    containers?: Array<{ name: string; lifecycle?: { preStop?: { sleep?: { seconds?: number } } } }>;
  };
  status?: {
    phase?: string;
    containerStatuses?: Array<{
      name: string;
      state?: {
        terminated?: {
          exitCode?: number;
          signal?: number;
          reason?: string;
          message?: string;
          finishedAt?: string;
        };
      };
    }>;
  };
}

/**
 * The part of a pod drain observation reads. The pod cache exists only for drains, and a pod
 * object is several kilobytes (spec, probes, env, managedFields): a thousand CounterServices'
 * pods cost megabytes the operator never reads.
 */
export function trimPod(pod: PodLike): PodLike {
  const { name, namespace, uid, resourceVersion, labels, deletionTimestamp, deletionGracePeriodSeconds } =
    pod.metadata;
  return {
    apiVersion: pod.apiVersion,
    kind: pod.kind,
    metadata: {
      name,
      namespace,
      uid,
      resourceVersion,
      labels,
      deletionTimestamp,
      deletionGracePeriodSeconds,
    },
    spec: {
      terminationGracePeriodSeconds: pod.spec?.terminationGracePeriodSeconds,
      containers: pod.spec?.containers?.map((c) => ({ name: c.name, lifecycle: c.lifecycle })),
    },
    status: {
      phase: pod.status?.phase,
      containerStatuses: pod.status?.containerStatuses?.map((c) => ({ name: c.name, state: c.state })),
    },
  };
}

/** One observed drain: the record for status and the CounterService it belongs to. */
export interface ObservedDrain {
  /** The CounterService key ("namespace/name"). */
  key: string;
  record: DrainRecord;
}

/**
 * The drain a pod reports, once the pod is being deleted and every container has terminated;
 * undefined before that (or for pods not of a CounterService). A container that exits while its pod
 * is not being deleted is a crash, which the Deployment handles; it is not a drain.
 */
export function drainOf(pod: PodLike): ObservedDrain | undefined {
  const owner = pod.metadata.labels?.[COUNTER_SERVICE_LABEL];
  if (!owner || !pod.metadata.deletionTimestamp) return undefined;
  const statuses = pod.status?.containerStatuses ?? [];
  if (statuses.length === 0 || !statuses.every((s) => s.state?.terminated)) return undefined;
  // The workload container is the one whose message parses; a pod has one container today.
  const reports = statuses.map((s) => ({
    status: s,
    report: parseTerminationMessage(s.state?.terminated?.message),
  }));
  const chosen = reports.find((r) => r.report) ?? reports[0];
  const terminated = chosen?.status.state?.terminated ?? {};
  const report = chosen?.report;
  const exitCode = terminated.exitCode ?? report?.exitCode;
  const record: DrainRecord = {
    pod: pod.metadata.name ?? '',
    outcome: outcomeOf(exitCode, terminated, report),
  };
  // The API server sets a UID on every pod; a pod built without one falls back to name identity.
  if (pod.metadata.uid) record.podUID = pod.metadata.uid;
  if (terminated.finishedAt) record.finishedAt = terminated.finishedAt;
  if (exitCode !== undefined) record.exitCode = exitCode;
  if (terminated.reason) record.reason = terminated.reason.slice(0, 256);
  if (report?.drainMs !== undefined) record.drainSeconds = Math.round(report.drainMs) / 1000;
  else if (record.outcome === 'Killed') {
    // A killed process wrote no report; it had at least the time the kubelet granted after the
    // preStop hook: max(grace - preStop sleep, 2) seconds (pkg/kubelet/kuberuntime killContainer).
    const grace =
      (pod.metadata.deletionGracePeriodSeconds as number | undefined) ??
      pod.spec?.terminationGracePeriodSeconds ??
      30;
    const container = pod.spec?.containers?.find((c) => c.name === chosen?.status.name);
    const preStop = container?.lifecycle?.preStop?.sleep?.seconds ?? 0;
    record.drainSeconds = Math.max(grace - preStop, 2);
  }
  if (report?.pendingAtSignal !== undefined) record.pendingAtSignal = Math.round(report.pendingAtSignal);
  if (report?.completed !== undefined) record.completed = Math.round(report.completed);
  if (report?.abandoned !== undefined) record.abandoned = Math.round(report.abandoned);
  return { key: `${pod.metadata.namespace}/${owner}`, record };
}

/** SIGKILL shows as exit code 137 (128 + 9) or reason OOMKilled; any other failure counts as killed too. */
export function outcomeOf(
  exitCode: number | undefined,
  terminated: { signal?: number; reason?: string },
  report: TerminationReport | undefined,
): DrainRecord['outcome'] {
  if (exitCode === undefined) return 'Unknown';
  if (exitCode === 137 || terminated.signal === 9 || terminated.reason === 'OOMKilled') return 'Killed';
  if (exitCode !== 0) return 'Killed';
  if ((report?.abandoned ?? 0) > 0) return 'Abandoned';
  return 'Clean';
}

/**
 * Do two records describe the same pod? A pod's name is not its identity: a StatefulSet-like
 * controller, or a hand delete and re-create, gives the new pod the old name, but the API server
 * gives every pod object a new metadata.uid. So records are the same pod when their UIDs are equal.
 * A record written before podUID was recorded (or built without a UID) has only its name, and is
 * compared by name: counting a pod twice would corrupt the totals.
 */
export function samePod(a: DrainRecord, b: DrainRecord): boolean {
  if (a.podUID && b.podUID) return a.podUID === b.podUID;
  return a.pod === b.pod;
}

/** The ledger's key of a record: its pod UID, or its name when it has none. */
function podIdentity(record: DrainRecord): string {
  return record.podUID ? `uid:${record.podUID}` : `name:${record.pod}`;
}

/**
 * Adds new drain records to the drains status: counters, longest drain, the recommendation and the
 * recent list (newest first). Records of a pod (by UID, see samePod) already in `recent` are
 * skipped, so replaying the same pod (a relist after a restart, a repeated event) never counts it
 * twice, while a new pod that reuses an old name counts as a new drain.
 * The recommendation comes from `recommend` (budget.ts: propagation + longest drain + margin).
 */
export function addDrains(
  drains: DrainsStatus | undefined,
  records: readonly DrainRecord[],
  recommend: (longestDrainSeconds: number) => number,
): { drains: DrainsStatus; added: DrainRecord[] } {
  const next: DrainsStatus = {
    observed: drains?.observed ?? 0,
    clean: drains?.clean ?? 0,
    killed: drains?.killed ?? 0,
    abandonedIncrements: drains?.abandonedIncrements ?? 0,
  };
  if (drains?.longestDrainSeconds !== undefined) next.longestDrainSeconds = drains.longestDrainSeconds;
  let recent = [...(drains?.recent ?? [])];
  const added: DrainRecord[] = [];
  const ordered = [...records].sort((a, b) => compareTimes(a.finishedAt, b.finishedAt));
  for (const record of ordered) {
    if (recent.some((r) => samePod(r, record)) || added.some((r) => samePod(r, record))) continue;
    added.push(record);
    next.observed++;
    if (record.outcome === 'Clean') next.clean++;
    if (record.outcome === 'Killed') next.killed++;
    next.abandonedIncrements += record.abandoned ?? 0;
    if (record.drainSeconds !== undefined) {
      next.longestDrainSeconds = Math.max(next.longestDrainSeconds ?? 0, record.drainSeconds);
    }
    recent = [record, ...recent];
  }
  recent = recent.slice(0, recentDrainsKept);
  if (recent.length > 0) next.recent = recent;
  if (next.longestDrainSeconds !== undefined) {
    next.recommendedGracePeriodSeconds = recommend(next.longestDrainSeconds);
  } else if (drains?.recommendedGracePeriodSeconds !== undefined) {
    next.recommendedGracePeriodSeconds = drains.recommendedGracePeriodSeconds;
  }
  return { drains: next, added };
}

function compareTimes(a: string | undefined, b: string | undefined): number {
  return (a ? Date.parse(a) : 0) - (b ? Date.parse(b) : 0);
}

/** The event a recorded drain raises on its CounterService. */
export function drainEvent(record: DrainRecord): {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
} {
  const detail = [
    record.exitCode !== undefined ? `exit code ${record.exitCode}` : 'exit code unknown',
    record.reason ? `reason ${record.reason}` : undefined,
    record.drainSeconds !== undefined ? `drained for ${record.drainSeconds}s` : undefined,
    record.pendingAtSignal !== undefined ? `${record.pendingAtSignal} in flight at SIGTERM` : undefined,
    record.completed !== undefined ? `${record.completed} completed` : undefined,
    record.abandoned !== undefined ? `${record.abandoned} abandoned` : undefined,
  ]
    .filter(Boolean)
    .join(', ');
  if (record.outcome === 'Killed') {
    return {
      type: 'Warning',
      reason: 'DrainKilled',
      message: `pod ${record.pod} was killed before it finished draining (${detail}); consider a longer grace period`,
    };
  }
  if ((record.abandoned ?? 0) > 0) {
    return {
      type: 'Warning',
      reason: 'DrainAbandonedWork',
      message: `pod ${record.pod} abandoned work (${detail})`,
    };
  }
  return { type: 'Normal', reason: 'Drained', message: `pod ${record.pod} drained (${detail})` };
}

/**
 * Drains seen but not yet written to status, per CounterService. The pod watch feeds it; the
 * reconcile of the CounterService takes the pending records, writes them into status and, once the
 * write succeeded, settles them. A failed write leaves them pending for the retry. Replaying a pod
 * (a relist, a second event, another replica) is harmless: status dedupes.
 */
export class DrainLedger {
  readonly #pending = new Map<string, Map<string, DrainRecord>>();

  /** Feeds a pod change; returns the CounterService key to reconcile when it completed a drain. */
  observe(change: Change<PodLike>): string | undefined {
    const drain = drainOf(change.object);
    if (!drain) return undefined;
    let pods = this.#pending.get(drain.key);
    if (!pods) {
      pods = new Map();
      this.#pending.set(drain.key, pods);
    }
    // A later observation of the same pod (final update, then DELETED) carries the same record.
    pods.set(podIdentity(drain.record), drain.record);
    return drain.key;
  }

  pending(key: string): DrainRecord[] {
    return [...(this.#pending.get(key)?.values() ?? [])];
  }

  /** The records were written (or were already in status): forget them. */
  settle(key: string, records: readonly DrainRecord[]): void {
    const pods = this.#pending.get(key);
    if (!pods) return;
    for (const [identity, record] of pods) {
      if (records.some((r) => samePod(r, record))) pods.delete(identity);
    }
    if (pods.size === 0) this.#pending.delete(key);
  }

  /** The CounterService is gone: its pending drains have nowhere to go. */
  forget(key: string): void {
    this.#pending.delete(key);
  }
}
