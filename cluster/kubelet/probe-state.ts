/**
 * Consecutive-result thresholds of a probe (pkg/kubelet/prober/worker.go): the result flips to
 * success after successThreshold successes in a row and to failure after failureThreshold
 * failures in a row. Readiness starts as failure, liveness and startup start as success
 * ("unknown" counts as not started for startup).
 */
interface ProbeTiming {
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

export interface ProbeSpecTiming {
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
}

/** API defaults (pkg/apis/core/v1/defaults.go). */
export function probeTiming(p: ProbeSpecTiming): ProbeTiming {
  return {
    initialDelaySeconds: p.initialDelaySeconds ?? 0,
    periodSeconds: p.periodSeconds ?? 10,
    timeoutSeconds: p.timeoutSeconds ?? 1,
    successThreshold: p.successThreshold ?? 1,
    failureThreshold: p.failureThreshold ?? 3,
  };
}

export class ProbeThresholds {
  readonly #timing: ProbeTiming;
  #successes = 0;
  #failures = 0;
  result: boolean;

  constructor(timing: ProbeTiming, initial: boolean) {
    this.#timing = timing;
    this.result = initial;
  }

  /** Records one probe outcome; returns true when the overall result changed. */
  record(success: boolean): boolean {
    if (success) {
      this.#successes++;
      this.#failures = 0;
    } else {
      this.#failures++;
      this.#successes = 0;
    }
    const before = this.result;
    if (success && this.#successes >= this.#timing.successThreshold) this.result = true;
    if (!success && this.#failures >= this.#timing.failureThreshold) this.result = false;
    return before !== this.result;
  }

  /** After a flip to failure the counters restart, so a liveness kill is not repeated at once. */
  resetCounts(): void {
    this.#successes = 0;
    this.#failures = 0;
  }
}
