// The shutdown budget: how long Kubernetes lets a pod of a CounterService shut down, and the
// workload's own deadline inside it. Pure.
//
// What the kubelet does on pod deletion (pkg/kubelet/kuberuntime, see docs/api.md):
//   t=0            deletion; endpoint removal and the preStop hook start in parallel
//   t=P            the preStop `sleep` ends; SIGTERM; remaining grace = max(grace - P, 2)
//   t=grace        SIGKILL (exit 137) if the container still runs
// So terminationGracePeriodSeconds must cover P + the longest work in flight + cleanup + a margin,
// and the workload's drain deadline (counted from SIGTERM) must end before grace - P, leaving the
// cleanup time (at least EXIT_RESERVE_SECONDS) to close Redis and write the termination message.
import { INCREMENT_LATENCY_ALLOWANCE_MS } from '../contracts/workload-env.ts';
import type { BudgetStatus, CounterServiceSpec, DrainMode } from './api/types.ts';
import type { EffectivePolicy, EffectivePolicyField } from './policy.ts';

/** Kubernetes' default terminationGracePeriodSeconds (PodSpec), used in Hard mode. */
export const KUBERNETES_DEFAULT_GRACE_PERIOD_SECONDS = 30;
/** The workload always gets at least this long between its drain deadline and SIGKILL. */
const EXIT_RESERVE_SECONDS = 1;

export type Budget = BudgetStatus;
type BudgetTerms = Budget['terms'];

type BudgetRejectionReason =
  | 'GracePeriodOutOfBounds'
  | 'PropagationBelowMinimum'
  | 'DrainModeNotAllowed'
  | 'DrainTimeoutTooShort';

type BudgetDecision =
  | { accepted: true; budget: Budget }
  | { accepted: false; reason: BudgetRejectionReason; message: string; budget: Budget };

/** The budget of a CounterService under a policy; refused (never clamped) outside the policy bounds. */
export function computeBudget(spec: CounterServiceSpec, policy: EffectivePolicy): BudgetDecision {
  const drain = spec.drain ?? {};
  const mode: DrainMode = drain.mode ?? 'Graceful';
  const terms: BudgetTerms = {
    propagationSeconds: drain.propagationSeconds ?? policy.propagationSeconds,
    workSeconds: spec.work?.durationSeconds ?? 0,
    cleanupSeconds: drain.cleanupSeconds ?? policy.cleanupSeconds,
    marginSeconds: drain.marginSeconds ?? policy.marginSeconds,
  };
  const bounds = { minSeconds: policy.minGracePeriodSeconds, maxSeconds: policy.maxGracePeriodSeconds };

  if (!policy.allowedModes.includes(mode)) {
    const budget = hardOrGracefulBudget(mode, terms, drain.gracePeriodSecondsOverride, bounds, policy.name);
    return reject(
      'DrainModeNotAllowed',
      `spec.drain.mode=${mode} is not allowed by DrainPolicy ${policy.name} (allowed: ${policy.allowedModes.join(', ')})`,
      budget,
    );
  }

  if (mode === 'Hard') {
    // The experiment's negative control, deployed like the article's hard version: no preStop hook,
    // the Kubernetes default grace period, a process that exits at SIGTERM. Bounds do not apply: it
    // makes no claim to drain anything.
    return { accepted: true, budget: hardOrGracefulBudget(mode, terms, undefined, bounds, policy.name) };
  }

  const budget = hardOrGracefulBudget(mode, terms, drain.gracePeriodSecondsOverride, bounds, policy.name);

  if (terms.propagationSeconds < policy.minPropagationSeconds) {
    const field =
      drain.propagationSeconds !== undefined
        ? 'spec.drain.propagationSeconds'
        : 'propagationSeconds (policy default)';
    return reject(
      'PropagationBelowMinimum',
      `${field}=${terms.propagationSeconds} is below the minimum ${policy.minPropagationSeconds} of DrainPolicy ${policy.name}`,
      budget,
    );
  }

  const g = budget.gracePeriodSeconds;
  if (g < bounds.minSeconds || g > bounds.maxSeconds) {
    const what =
      budget.source === 'override'
        ? `spec.drain.gracePeriodSecondsOverride=${g}`
        : `computed terminationGracePeriodSeconds=${g} (${budget.formula}, from spec.work.durationSeconds=${terms.workSeconds})`;
    return reject(
      'GracePeriodOutOfBounds',
      `${what} is outside the range ${bounds.minSeconds}-${bounds.maxSeconds} allowed by DrainPolicy ${policy.name}`,
      budget,
    );
  }

  // An honest budget: the workload promises (answers 200 to) an increment after SIGTERM only when
  // its work plus INCREMENT_LATENCY_ALLOWANCE_MS ends before its drain deadline, and an increment
  // accepted just before SIGTERM needs exactly that. A deadline shorter than work + allowance
  // abandons increments on every rollout, so it is refused, naming every term it came from.
  const neededMs = terms.workSeconds * 1000 + INCREMENT_LATENCY_ALLOWANCE_MS;
  if (budget.drainTimeoutSeconds * 1000 < neededMs) {
    return reject(
      'DrainTimeoutTooShort',
      drainTimeoutTooShortMessage(spec, policy, budget, neededMs),
      budget,
    );
  }

  return { accepted: true, budget };
}

/** Seconds of drain deadline (from SIGTERM) the workload needs for work it accepted just before SIGTERM. */
function requiredDrainTimeoutSeconds(workSeconds: number): number {
  return Math.ceil((workSeconds * 1000 + INCREMENT_LATENCY_ALLOWANCE_MS) / 1000);
}

function drainTimeoutTooShortMessage(
  spec: CounterServiceSpec,
  policy: EffectivePolicy,
  budget: Budget,
  neededMs: number,
): string {
  const drain = spec.drain ?? {};
  const { terms } = budget;
  const reserve = Math.max(terms.cleanupSeconds, EXIT_RESERVE_SECONDS);
  const term = (field: 'propagationSeconds' | 'cleanupSeconds' | 'marginSeconds', value: number) =>
    drain[field] !== undefined
      ? `spec.drain.${field}=${value}`
      : `${field}=${value} (default of ${policySource(policy, field)})`;
  const deadline = budget.drainTimeoutSeconds;
  const need = requiredDrainTimeoutSeconds(terms.workSeconds);
  const from =
    budget.source === 'override'
      ? `spec.drain.gracePeriodSecondsOverride=${budget.gracePeriodSeconds}`
      : `the computed grace period ${budget.formula} (with ${term('marginSeconds', terms.marginSeconds)})`;
  const fix =
    budget.source === 'override'
      ? `raise spec.drain.gracePeriodSecondsOverride to at least ${terms.propagationSeconds + reserve + need}, or remove it`
      : `set spec.drain.marginSeconds to at least ${terms.marginSeconds + need - deadline}`;
  return (
    `the drain deadline is ${deadline}s after SIGTERM: ${from} - ` +
    `${term('propagationSeconds', terms.propagationSeconds)} - ${term('cleanupSeconds', reserve)}. ` +
    `It must cover spec.work.durationSeconds=${terms.workSeconds} + the workload's latency allowance ` +
    `${INCREMENT_LATENCY_ALLOWANCE_MS / 1000}s (INCREMENT_LATENCY_ALLOWANCE_MS) = ${neededMs / 1000}s, or increments ` +
    `accepted in the last ${(neededMs - deadline * 1000) / 1000}s before SIGTERM are abandoned on every rollout; ${fix}`
  );
}

function policySource(policy: EffectivePolicy, field: EffectivePolicyField): string {
  const source = policy.sources?.[field];
  return source && source !== 'built-in' ? `DrainPolicy ${source}` : 'the built-in policy';
}

function reject(reason: BudgetRejectionReason, message: string, budget: Budget): BudgetDecision {
  return { accepted: false, reason, message, budget };
}

function hardOrGracefulBudget(
  mode: DrainMode,
  terms: BudgetTerms,
  override: number | undefined,
  bounds: Budget['bounds'],
  policyName: string,
): Budget {
  if (mode === 'Hard') {
    const g = KUBERNETES_DEFAULT_GRACE_PERIOD_SECONDS;
    return {
      mode,
      gracePeriodSeconds: g,
      preStopSleepSeconds: 0,
      drainTimeoutSeconds: 0,
      source: 'kubernetes-default',
      policy: policyName,
      terms,
      formula: `Hard mode: Kubernetes default ${g}s, no preStop, exit at SIGTERM`,
      bounds,
    };
  }
  const computed = computeGracePeriodSeconds(terms);
  const gracePeriodSeconds = override ?? computed;
  return {
    mode,
    gracePeriodSeconds,
    preStopSleepSeconds: terms.propagationSeconds,
    drainTimeoutSeconds: drainTimeoutSeconds(gracePeriodSeconds, terms),
    source: override === undefined ? 'computed' : 'override',
    policy: policyName,
    terms,
    formula:
      override === undefined
        ? formulaText(terms, computed)
        : `override ${override}s (computed would be ${formulaText(terms, computed)})`,
    bounds,
  };
}

/** propagation + work + cleanup + margin, rounded up to whole seconds (the API field is an integer). */
export function computeGracePeriodSeconds(terms: BudgetTerms): number {
  return Math.ceil(terms.propagationSeconds + terms.workSeconds + terms.cleanupSeconds + terms.marginSeconds);
}

/**
 * The workload's drain deadline, counted from SIGTERM: what is left of the grace period after the
 * preStop sleep, minus the exit reserve (cleanupSeconds, at least EXIT_RESERVE_SECONDS) so the
 * workload abandons work and exits by itself before SIGKILL. For a computed budget this is
 * work + margin (cleanupSeconds is at least 1 in the schemas; the reserve guards built-in callers).
 */
export function drainTimeoutSeconds(gracePeriodSeconds: number, terms: BudgetTerms): number {
  const reserve = Math.max(terms.cleanupSeconds, EXIT_RESERVE_SECONDS);
  return Math.max(0, Math.floor(gracePeriodSeconds - terms.propagationSeconds - reserve));
}

function formulaText(terms: BudgetTerms, total: number): string {
  const { propagationSeconds: p, workSeconds: w, cleanupSeconds: c, marginSeconds: m } = terms;
  return `${p} + ${w} + ${c} + ${m} = ${total}s`;
}

/**
 * A grace period derived from observed drains: propagation + the longest observed drain (SIGTERM to
 * exit, which already includes in-flight work and cleanup, as the workload measured it) + margin,
 * rounded up. Never below propagation + EXIT_RESERVE_SECONDS + 2 (the kubelet always grants at
 * least 2 s after the preStop hook). A drain that ended in SIGKILL only gives a lower bound: the
 * caller should pass the grace period then, and this returns more than it.
 */
export function recommendGracePeriod(terms: BudgetTerms, observedLongestDrainSeconds: number): number {
  if (!Number.isFinite(observedLongestDrainSeconds) || observedLongestDrainSeconds < 0) {
    throw new RangeError(
      `observedLongestDrainSeconds=${observedLongestDrainSeconds}: must be a finite number of seconds >= 0`,
    );
  }
  const recommended = Math.ceil(terms.propagationSeconds + observedLongestDrainSeconds + terms.marginSeconds);
  return Math.max(recommended, terms.propagationSeconds + EXIT_RESERVE_SECONDS + 2);
}

/**
 * The recommendation status carries for a CounterService whose budget in force is `budget`.
 * Hard mode exits at SIGTERM by design, so no drain of it asks for more time and its figure never
 * goes below the grace it runs with: advice to shorten the grace of a pod that does not drain
 * would be as wrong as advice to lengthen it.
 */
export function recommendGracePeriodFor(
  budget: Budget | undefined,
  observedLongestDrainSeconds: number,
): number {
  if (budget === undefined) return Math.ceil(observedLongestDrainSeconds);
  const recommended = recommendGracePeriod(budget.terms, observedLongestDrainSeconds);
  return budget.mode === 'Hard' ? Math.max(recommended, budget.gracePeriodSeconds) : recommended;
}
