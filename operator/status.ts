// CounterService status: conditions that follow the Kubernetes API conventions, the phase that
// summarises them, and the Deployment rollout state they are derived from. Pure functions.

import type { KubeObject } from '../kube/resources.ts';
import { CONDITION_TYPES, type ConditionType } from './api/constants.ts';
import type { Condition, CounterServiceStatus, Phase } from './api/types.ts';

export interface ConditionInput {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/**
 * Sets conditions, keeping each one's lastTransitionTime unless its status changes: the convention
 * (k8s.io/apimachinery meta.SetStatusCondition) is that lastTransitionTime says when the status last
 * flipped, not when the operator last looked. Reason, message and observedGeneration follow the
 * latest observation. Conditions come out in a fixed order so equal inputs give equal output.
 */
export function setConditions(
  existing: readonly Condition[] | undefined,
  updates: readonly ConditionInput[],
  generation: number | undefined,
  now: string,
): Condition[] {
  const byType = new Map((existing ?? []).map((c) => [c.type, c]));
  for (const update of updates) {
    const previous = byType.get(update.type);
    const condition: Condition = {
      type: update.type,
      status: update.status,
      reason: update.reason,
      message: update.message,
      lastTransitionTime: previous && previous.status === update.status ? previous.lastTransitionTime : now,
    };
    if (generation !== undefined) condition.observedGeneration = generation;
    byType.set(update.type, condition);
  }
  const known = CONDITION_TYPES as readonly string[];
  return [...byType.values()].sort(
    (a, b) => rank(known, a.type) - rank(known, b.type) || compare(a.type, b.type),
  );
}

function rank(order: readonly string[], type: string): number {
  const i = order.indexOf(type);
  return i < 0 ? order.length : i;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: ConditionType,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** What the Deployment says about its rollout, judged the way `kubectl rollout status` does. */
interface RolloutState {
  /** The Deployment controller has seen the latest spec. */
  observed: boolean;
  /** Every pod runs the current template and is available; no old pods remain. */
  complete: boolean;
  /** The Deployment reported ProgressDeadlineExceeded. */
  stalled: boolean;
  replicas: number;
  readyReplicas: number;
  updatedReplicas: number;
  availableReplicas: number;
  message: string;
}

/** The part of an apps/v1 DeploymentStatus the rollout state is judged from. */
interface DeploymentStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  availableReplicas?: number;
  conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }>;
}

/**
 * The part of an apps/v1 Deployment the operator reads: replicas, the grace period and image of
 * its template (for events), and its status (for the rollout state). The cache holds the whole
 * object as JSON; this is only the view the code is typed against.
 */
export interface Deployment extends KubeObject {
  spec?: {
    replicas?: number;
    template?: {
      spec?: {
        terminationGracePeriodSeconds?: number;
        containers?: Array<{ name?: string; image?: string }>;
      };
    };
  };
  status?: DeploymentStatus;
}

export function rolloutState(deployment: Deployment): RolloutState {
  const status = deployment.status ?? {};
  const desired = deployment.spec?.replicas ?? 1;
  const replicas = status.replicas ?? 0;
  const readyReplicas = status.readyReplicas ?? 0;
  const updatedReplicas = status.updatedReplicas ?? 0;
  const availableReplicas = status.availableReplicas ?? 0;
  const observed = (status.observedGeneration ?? 0) >= (deployment.metadata.generation ?? 0);
  const progressing = status.conditions?.find((c) => c.type === 'Progressing');
  const stalled = progressing?.reason === 'ProgressDeadlineExceeded';
  let message: string;
  let complete = false;
  if (!observed) message = 'waiting for the Deployment controller to observe the new spec';
  else if (updatedReplicas < desired) message = `${updatedReplicas} of ${desired} pods updated`;
  else if (replicas > updatedReplicas) message = `${replicas - updatedReplicas} old pods pending termination`;
  else if (availableReplicas < updatedReplicas)
    message = `${availableReplicas} of ${updatedReplicas} updated pods available`;
  else {
    complete = true;
    message = `${availableReplicas} of ${desired} pods available`;
  }
  if (stalled) message = `rollout stalled: ${progressing?.message ?? 'progress deadline exceeded'}`;
  return {
    observed,
    complete,
    stalled,
    replicas,
    readyReplicas,
    updatedReplicas,
    availableReplicas,
    message,
  };
}

/**
 * The conditions for a CounterService whose budget was accepted and whose Deployment is `rollout`.
 * Progressing is True while pods are being replaced and False once the rollout is complete, so
 * "Progressing=False, Ready=True" reads as "settled".
 */
export function rolloutConditions(
  rollout: RolloutState | undefined,
  desiredReplicas: number,
): ConditionInput[] {
  if (!rollout) {
    return [
      {
        type: 'Ready',
        status: 'False',
        reason: 'DeploymentPending',
        message: 'the Deployment has no status yet',
      },
      {
        type: 'Progressing',
        status: 'True',
        reason: 'DeploymentCreated',
        message: 'waiting for the Deployment',
      },
      { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'no problems observed' },
    ];
  }
  const ready = rollout.complete && rollout.availableReplicas >= desiredReplicas;
  return [
    {
      type: 'Ready',
      status: ready ? 'True' : 'False',
      reason: ready ? 'AllReplicasAvailable' : 'ReplicasUnavailable',
      message: rollout.message,
    },
    rollout.complete
      ? { type: 'Progressing', status: 'False', reason: 'RolloutComplete', message: rollout.message }
      : {
          type: 'Progressing',
          status: 'True',
          reason: rollout.stalled ? 'RolloutStalled' : 'RollingOut',
          message: rollout.message,
        },
    rollout.stalled
      ? { type: 'Degraded', status: 'True', reason: 'ProgressDeadlineExceeded', message: rollout.message }
      : { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'no problems observed' },
  ];
}

/** The phase: a one-word summary of the conditions, for `kubectl get`. */
export function phaseOf(conditions: readonly Condition[]): Phase {
  const is = (type: ConditionType, status: string) => findCondition(conditions, type)?.status === status;
  if (is('BudgetAccepted', 'False')) return 'Rejected';
  if (is('Degraded', 'True')) return 'Degraded';
  if (is('Ready', 'True') && !is('Progressing', 'True')) return 'Ready';
  if (is('Progressing', 'True')) return 'Progressing';
  return 'Pending';
}

type Rollout = NonNullable<CounterServiceStatus['lastRollout']>;

/** The image of the workload container, the one a rollout is named by. */
export function imageOf(deployment: Deployment | undefined): string | undefined {
  return deployment?.spec?.template?.spec?.containers?.[0]?.image;
}

/**
 * The last rollout, judged from the Deployment alone (level-triggered, so a failed status write
 * or a restart in between loses nothing): its image differs from the last rollout's target: a new
 * rollout started; it reports every pod updated and available: that rollout completed. The first
 * rollout starts when the Deployment was created.
 */
export function nextRollout(previous: Rollout | undefined, deployment: Deployment | undefined, now: string) {
  const image = imageOf(deployment);
  if (!deployment || !image) return previous;
  let rollout: Rollout;
  if (!previous) rollout = { toImage: image, startedAt: deployment.metadata.creationTimestamp ?? now };
  else if (previous.toImage !== image)
    rollout = { fromImage: previous.toImage, toImage: image, startedAt: now };
  else rollout = previous;
  if (!rollout.completedAt && deployment.status && rolloutState(deployment).complete) {
    rollout = { ...rollout, completedAt: now };
  }
  return rollout;
}

/** The READY printer column value, "ready/desired" like kubectl's for Deployments. */
export function readyColumn(readyReplicas: number | undefined, desiredReplicas: number): string {
  return `${readyReplicas ?? 0}/${desiredReplicas}`;
}
