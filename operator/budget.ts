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
import type { BudgetStatus, CounterServiceSpec, DrainMode } from './api/types.ts';
import type { EffectivePolicy } from './policy.ts';

/** Kubernetes' default terminationGracePeriodSeconds (PodSpec), used in Hard mode. */
export const KUBERNETES_DEFAULT_GRACE_PERIOD_SECONDS = 30;
/** The workload always gets at least this long between its drain deadline and SIGKILL. */
export const EXIT_RESERVE_SECONDS = 1;

export type Budget = BudgetStatus;
export type BudgetTerms = Budget['terms'];

export type BudgetRejectionReason =
  | 'GracePeriodOutOfBounds'
  | 'PropagationBelowMinimum'
  | 'DrainModeNotAllowed'
  | 'DrainTimeoutTooShort';

export type BudgetDecision =
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

  if (budget.drainTimeoutSeconds < 1) {
    const reserve = Math.max(terms.cleanupSeconds, EXIT_RESERVE_SECONDS);
    return reject(
      'DrainTimeoutTooShort',
      `spec.drain.gracePeriodSecondsOverride=${g} leaves no time to drain: it must be at least ` +
        `propagationSeconds (${terms.propagationSeconds}) + exit reserve (${reserve}) + 1 = ${terms.propagationSeconds + reserve + 1}`,
      budget,
    );
  }

  return { accepted: true, budget };
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
