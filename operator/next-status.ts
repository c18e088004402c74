// The CounterService status a reconcile should write, assembled from what it observed: the budget
// decision, the Deployment's rollout, conditions that override the rollout's (a refused budget, a
// name conflict, an apply the API server rejected), and the drains seen since the last write.
// Pure: no clock, no I/O; equal inputs give equal status, which is what lets the reconcile compare
// it with the stored one and write nothing in steady state.
import type { CounterService, CounterServiceStatus, DrainRecord, RolloutStatus } from './api/types.ts';
import { type Budget, recommendGracePeriodFor } from './budget.ts';
import { selectorString } from './desired/index.ts';
import { addDrains } from './drains.ts';
import {
  type ConditionInput,
  type Deployment,
  phaseOf,
  readyColumn,
  rolloutConditions,
  rolloutState,
  setConditions,
} from './status.ts';

/** How long a new CounterService's first status waits for its Deployment's first status. */
export const firstStatusWaitMs = 5000;

export interface StatusInput {
  cs: CounterService;
  /** The time to stamp on conditions that change (ISO 8601). */
  now: string;
  /** The budget in force: the accepted one, or the one the live Deployment carries. */
  budget: Budget | undefined;
  budgetCondition: ConditionInput;
  deployment: Deployment | undefined;
  lastRollout?: RolloutStatus | undefined;
  /** Conditions that replace the rollout's of the same type (e.g. Degraded/NameConflict). */
  overrides: readonly ConditionInput[];
  /** Drain records seen since the last write (the ledger's pending ones). */
  drains: readonly DrainRecord[];
  /** Whether a pod UID still exists (DrainLedger.podExists): counted pods are remembered while they do. */
  podExists?: (uid: string) => boolean;
}

interface NextStatus {
  status: CounterServiceStatus;
  /** The drains this status counts for the first time (each raises an event once written). */
  drainsAdded: DrainRecord[];
}

export function nextStatus(input: StatusInput): NextStatus {
  const { cs } = input;
  const previous = cs.status ?? {};
  const rollout = input.deployment?.status ? rolloutState(input.deployment) : undefined;
  const conditionInputs = [...rolloutConditions(rollout, cs.spec.replicas), input.budgetCondition];
  for (const override of input.overrides) {
    const i = conditionInputs.findIndex((c) => c.type === override.type);
    conditionInputs[i >= 0 ? i : conditionInputs.length] = override;
  }
  const conditions = setConditions(previous.conditions, conditionInputs, cs.metadata.generation, input.now);

  const status: CounterServiceStatus = {
    ...(cs.metadata.generation !== undefined ? { observedGeneration: cs.metadata.generation } : {}),
    replicas: rollout?.replicas ?? 0,
    readyReplicas: rollout?.readyReplicas ?? 0,
    updatedReplicas: rollout?.updatedReplicas ?? 0,
    availableReplicas: rollout?.availableReplicas ?? 0,
    ready: readyColumn(rollout?.readyReplicas, cs.spec.replicas),
    selector: selectorString(cs),
    phase: phaseOf(conditions),
    conditions,
  };
  if (input.budget) status.budget = input.budget;
  const lastRollout = input.lastRollout ?? previous.lastRollout;
  if (lastRollout) status.lastRollout = lastRollout;

  const { budget, podExists } = input;
  const { drains, added } = addDrains(previous.drains, input.drains, {
    recommend: (longest) => recommendGracePeriodFor(budget, longest),
    ...(podExists ? { podExists } : {}),
  });
  if (drains.observed > 0) status.drains = drains;
  return { status, drainsAdded: added };
}

/**
 * How long to put off a new CounterService's first status, or undefined to write it now. A
 * Deployment created a moment ago has no status yet; the Deployment controller gives it one within
 * milliseconds, and that change reconciles the CounterService again. Writing a first status before
 * would be replaced at once: one write per new CounterService saved. The wait is bounded, so a
 * stalled controller-manager still gets a status written.
 */
export function firstStatusDelayMs(
  cs: CounterService,
  deployment: Deployment | undefined,
  nowMs: number,
): number | undefined {
  if (cs.status?.conditions || !deployment || deployment.status?.observedGeneration) return undefined;
  const age = nowMs - Date.parse(deployment.metadata.creationTimestamp ?? '');
  // No or unparsable creationTimestamp: NaN fails the comparison, and the status is written.
  return age < firstStatusWaitMs ? firstStatusWaitMs - Math.max(0, age) : undefined;
}
