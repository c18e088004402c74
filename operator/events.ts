// The events a CounterService raises, and their texts. Pure: derived from what changed between
// the status stored and the status written (and from what an apply changed), never from the
// reconcile's path through the code. So an event is raised once per change, a retried reconcile
// raises it again only if its status write failed the first time, and a restarted operator, whose
// status already says everything, raises none.

import type { KubeObject, ResourceType } from '../kube/resources.ts';
import type { CounterServiceStatus, DrainRecord } from './api/types.ts';
import { drainEvent } from './drains.ts';
import { type Deployment, findCondition, imageOf } from './status.ts';

export interface EventSpec {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Degraded reasons the operator decides itself, each announced by a Warning event of that reason. */
const OPERATOR_DEGRADED_REASONS = ['NameConflict', 'ApplyFailed', 'RedisAddressNotAllowed'];

/** Events for a status transition: refusals and conflicts when they start or change, drains, rollouts. */
export function statusEvents(
  previous: CounterServiceStatus,
  next: CounterServiceStatus,
  drainsAdded: readonly DrainRecord[],
): EventSpec[] {
  const events: EventSpec[] = drainsAdded.map(drainEvent);

  const budgetBefore = findCondition(previous.conditions, 'BudgetAccepted');
  const budgetNow = findCondition(next.conditions, 'BudgetAccepted');
  if (
    budgetNow?.status === 'False' &&
    (budgetBefore?.status !== 'False' || budgetBefore.message !== budgetNow.message)
  ) {
    events.push({ type: 'Warning', reason: 'BudgetRejected', message: budgetNow.message });
  }

  // Degraded reasons the operator itself sets (a refused budget has its own event above; a stalled
  // rollout is the Deployment controller's news and has its own event on the Deployment).
  const degradedBefore = findCondition(previous.conditions, 'Degraded');
  const degradedNow = findCondition(next.conditions, 'Degraded');
  if (
    degradedNow?.status === 'True' &&
    OPERATOR_DEGRADED_REASONS.includes(degradedNow.reason) &&
    (degradedBefore?.status !== 'True' ||
      degradedBefore.reason !== degradedNow.reason ||
      degradedBefore.message !== degradedNow.message)
  ) {
    events.push({ type: 'Warning', reason: degradedNow.reason, message: degradedNow.message });
  }

  const rollout = next.lastRollout;
  if (rollout?.completedAt && rollout.completedAt !== previous.lastRollout?.completedAt) {
    events.push({
      type: 'Normal',
      reason: 'RolloutComplete',
      message: `rollout${rollout.fromImage ? ` from ${rollout.fromImage}` : ''} to ${rollout.toImage} complete`,
    });
  }
  return events;
}

/** One owned object a reconcile applied: its kind, what it was before, and what it is now. */
export interface AppliedObject {
  type: ResourceType;
  /** Undefined when the apply created it. */
  before: KubeObject | undefined;
  after: KubeObject;
  /** The same desired state was applied before: the live object differed because someone edited it. */
  drifted: boolean;
}

/** One event per kind of change, naming every object it concerns (not one event per object). */
export function applyEvents(applied: readonly AppliedObject[]): EventSpec[] {
  const created: string[] = [];
  const updated: string[] = [];
  const driftCorrected: string[] = [];
  for (const { type, before, after, drifted } of applied) {
    const what = `${type.kind} ${after.metadata.name}`;
    if (!before) created.push(`${what}${describe(type, after)}`);
    else if (drifted) driftCorrected.push(what);
    else updated.push(`${what}${describe(type, after, before)}`);
  }
  const events: EventSpec[] = [];
  if (created.length)
    events.push({ type: 'Normal', reason: 'Created', message: `created ${created.join(', ')}` });
  if (updated.length)
    events.push({ type: 'Normal', reason: 'Updated', message: `updated ${updated.join(', ')}` });
  if (driftCorrected.length) {
    events.push({
      type: 'Normal',
      reason: 'DriftCorrected',
      message: `put back hand-edited fields of ${driftCorrected.join(', ')}`,
    });
  }
  return events;
}

/** What an applied Deployment now says, for events: grace period, image, replicas. */
function describe(type: ResourceType, now: KubeObject, before?: KubeObject): string {
  if (type.kind !== 'Deployment') return '';
  const after = now as Deployment;
  const old = before as Deployment | undefined;
  const parts: string[] = [];
  const grace = after.spec?.template?.spec?.terminationGracePeriodSeconds;
  const oldGrace = old?.spec?.template?.spec?.terminationGracePeriodSeconds;
  if (!old)
    parts.push(`grace period ${grace}s`, `image ${imageOf(after)}`, `replicas ${after.spec?.replicas}`);
  else {
    if (grace !== oldGrace) parts.push(`grace period ${oldGrace}s -> ${grace}s`);
    if (imageOf(after) !== imageOf(old)) parts.push(`image ${imageOf(old)} -> ${imageOf(after)}`);
    if (after.spec?.replicas !== old.spec?.replicas)
      parts.push(`replicas ${old.spec?.replicas} -> ${after.spec?.replicas}`);
  }
  return parts.length ? ` (${parts.join(', ')})` : '';
}
