/**
 * Exponential back-off with jitter, shared by the work queue (failed reconciles) and the reflector
 * (dropped watches). Jitter spreads retries of many keys, or of two operator replicas, so they do
 * not hit the API server in lock-step (the "thundering herd" client-go's rate limiters avoid too).
 */
export interface BackoffPolicy {
  /** Delay after the first failure, in milliseconds. */
  baseMs: number;
  /** Upper bound on the delay before jitter, in milliseconds. */
  maxMs: number;
  /** 0..1: the delay is stretched by up to this fraction, chosen at random. */
  jitter: number;
}

export const defaultBackoff: BackoffPolicy = { baseMs: 5, maxMs: 60_000, jitter: 0.2 };

/**
 * Delay before retry number `failures` (1 = first retry): base * 2^(failures-1), capped at max,
 * then stretched by a random fraction in [0, jitter).
 */
export function backoffDelay(
  policy: BackoffPolicy,
  failures: number,
  random: () => number = Math.random,
): number {
  if (failures <= 0) return 0;
  // 2^60 already exceeds any sane cap; clamping the exponent avoids Infinity.
  const exponential = policy.baseMs * 2 ** Math.min(failures - 1, 60);
  const capped = Math.min(exponential, policy.maxMs);
  return Math.round(capped * (1 + policy.jitter * random()));
}

/** Counts consecutive failures per key and turns them into delays. */
export class FailureCounter {
  readonly #failures = new Map<string, number>();
  readonly #policy: BackoffPolicy;
  readonly #random: () => number;

  constructor(policy: BackoffPolicy = defaultBackoff, random: () => number = Math.random) {
    this.#policy = policy;
    this.#random = random;
  }

  /** Records one more failure for `key` and returns how long to wait before retrying it. */
  next(key: string): number {
    const failures = (this.#failures.get(key) ?? 0) + 1;
    this.#failures.set(key, failures);
    return backoffDelay(this.#policy, failures, this.#random);
  }

  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** A success resets the key: its next failure starts again from the base delay. */
  forget(key: string): void {
    this.#failures.delete(key);
  }
}
