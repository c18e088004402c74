// Gradual policy rollouts: a DrainPolicy change that alters the pod templates of many
// CounterServices (a new grace period, preStop sleep or drain deadline) rolls at most
// spec.maxConcurrentRollouts of them at a time, instead of restarting every matching pod at once.
//
// What counts as rolling comes from the Deployment cache (a Deployment whose rollout is not
// complete, judged like `kubectl rollout status`), so it survives an operator restart and counts
// rollouts of any cause. A stalled rollout (ProgressDeadlineExceeded) does not count: it has
// failed, and it must not hold the others back for ever. The cache cannot see an apply still in
// flight, so an admission is also held here until the apply has returned (its response, put into
// the cache, shows the new generation not yet observed: rolling).
import { type KubeObject, objectKey } from '../kube/resources.ts';
import type { Store } from '../kube/store.ts';
import type { CounterService, DrainPolicy } from './api/types.ts';
import type { Budget } from './budget.ts';
import { budgetInForce, desiredDeployment } from './desired/index.ts';
import { type EffectivePolicy, resolvePolicy } from './policy.ts';
import { hashOf } from './runtime/apply.ts';
import { type Deployment, rolloutState } from './status.ts';

export class PolicyRollouts {
  /** Admitted CounterService key -> policy, while its apply is in flight. */
  readonly #inFlight = new Map<string, string>();
  /** CounterService key -> policy, for those waiting for a slot. */
  readonly #waiting = new Map<string, string>();

  /**
   * May the CounterService `key` roll out its policy change now? `rolling` are the keys of the
   * policy's CounterServices the cache shows rolling. Synchronous, so two reconciles in parallel
   * cannot both take the last slot. An admitted key must be `settle`d once its apply returned.
   */
  admit(key: string, policy: string, maxConcurrent: number, rolling: ReadonlySet<string>): boolean {
    const busy = new Set(rolling);
    for (const [other, otherPolicy] of this.#inFlight) if (otherPolicy === policy) busy.add(other);
    busy.delete(key);
    if (busy.size >= maxConcurrent) {
      this.#waiting.set(key, policy);
      return false;
    }
    this.#waiting.delete(key);
    this.#inFlight.set(key, policy);
    return true;
  }

  /** The apply of an admitted key returned (or failed): from now on the cache speaks for it. */
  settle(key: string): void {
    this.#inFlight.delete(key);
  }

  /** The key no longer waits (its change was applied, or it is gone). */
  forget(key: string): void {
    this.#waiting.delete(key);
    this.#inFlight.delete(key);
  }

  /** Keys waiting for a slot: to reconcile again when a rollout settles. */
  waiting(): string[] {
    return [...this.#waiting.keys()];
  }
}

/** Has this Deployment stopped taking a slot (rollout complete, stalled, or deleted)? */
export function rolloutSettled(deployment: KubeObject | undefined): boolean {
  if (!deployment) return true;
  const state = rolloutState(deployment as Deployment);
  return state.complete || state.stalled;
}

/**
 * The keys of the Deployments in `deployments` that are rolling out and whose CounterService is
 * governed by `policy` (`governedBy` resolves a namespace's rollout-limit policy).
 */
function rollingUnder(
  deployments: readonly Deployment[],
  policy: string,
  governedBy: (namespace: string) => string | undefined,
): Set<string> {
  const rolling = new Set<string>();
  const byNamespace = new Map<string, string | undefined>();
  for (const deployment of deployments) {
    if (rolloutSettled(deployment)) continue;
    const namespace = deployment.metadata.namespace ?? '';
    if (!byNamespace.has(namespace)) byNamespace.set(namespace, governedBy(namespace));
    if (byNamespace.get(namespace) === policy) rolling.add(objectKey(deployment));
  }
  return rolling;
}

/**
 * How a CounterService's change may go ahead: `free` (no limit, or not a policy-driven template
 * change), `admitted` (it takes a rollout slot; `settle` it once applied), or `queued` (it keeps
 * the budget in force until a slot frees).
 */
type PolicyRolloutGate =
  | { kind: 'free' }
  | { kind: 'admitted' }
  | { kind: 'queued'; inForce: Budget; message: string };

/**
 * A change is the policy's when the new budget changes the pod template while the spec is the one
 * status last reported on (observedGeneration, or no status yet): a user's spec change is the
 * user's own rollout and never waits.
 */
export function policyRolloutGate(input: {
  cs: CounterService & KubeObject;
  live: Deployment | undefined;
  budget: Budget;
  policy: EffectivePolicy;
  deployments: Store<Deployment>;
  drainPolicies: Store<DrainPolicy & KubeObject>;
  namespaces: Store<KubeObject>;
  rollouts: PolicyRollouts;
}): PolicyRolloutGate {
  const { cs, live, budget, policy } = input;
  const limit = policy.rolloutLimit;
  const inForce = budgetInForce(live);
  if (!limit || !live || !inForce || live.metadata.deletionTimestamp) return { kind: 'free' };
  // A CounterService whose first status is not written yet has had no spec change since: its
  // Deployment was just made from this spec (a policy change right after a create must wait too).
  const reported = cs.status?.observedGeneration;
  if (reported !== undefined && reported !== cs.metadata.generation) return { kind: 'free' };
  const template = (b: Budget) => hashOf(desiredDeployment(cs, b).spec.template);
  if (template(budget) === template(inForce)) return { kind: 'free' };
  const policies = input.drainPolicies.list();
  const rolling = rollingUnder(
    input.deployments.list(),
    limit.policy,
    (ns) => resolvePolicy(policies, ns, input.namespaces.get(ns)?.metadata.labels ?? {}).rolloutLimit?.policy,
  );
  if (input.rollouts.admit(objectKey(cs), limit.policy, limit.maxConcurrent, rolling))
    return { kind: 'admitted' };
  return {
    kind: 'queued',
    inForce,
    message:
      `DrainPolicy ${limit.policy} changes the pod template (terminationGracePeriodSeconds ` +
      `${inForce.gracePeriodSeconds}s -> ${budget.gracePeriodSeconds}s); it waits for a rollout slot: ` +
      `at most ${limit.maxConcurrent} of the CounterServices under that policy roll out at once`,
  };
}
