/**
 * The kubelet's crash-loop back-off (pkg/kubelet/kuberuntime doBackOff + client-go flowcontrol
 * Backoff): initial 10 s, doubling, capped at 300 s, measured from the container's finish time.
 * The first restart after a crash is immediate; the entry is forgotten when the container ran for
 * more than twice the cap.
 */
const INITIAL_BACKOFF_MS = 10_000;
const MAX_BACKOFF_MS = 300_000;

export class CrashBackoff {
  #backoffMs = 0;
  #lastUpdate = 0;
  readonly #initialMs: number;
  readonly #maxMs: number;

  constructor(initialMs = INITIAL_BACKOFF_MS, maxMs = MAX_BACKOFF_MS) {
    this.#initialMs = initialMs;
    this.#maxMs = maxMs;
  }

  /**
   * How long to wait (from now) before restarting a container that finished at finishedAtMs.
   * Records the restart, as the kubelet's backOff.Next does when it lets a restart through.
   */
  restartDelay(finishedAtMs: number, nowMs: number): number {
    const expired = this.#backoffMs === 0 || finishedAtMs - this.#lastUpdate > 2 * this.#maxMs;
    const delay = expired ? 0 : Math.max(0, this.#backoffMs - (nowMs - finishedAtMs));
    this.#backoffMs = expired ? this.#initialMs : Math.min(this.#backoffMs * 2, this.#maxMs);
    this.#lastUpdate = nowMs + delay;
    return delay;
  }
}

/** Whether restartPolicy restarts a container that exited with this code. */
export function shouldRestart(restartPolicy: string | undefined, exitCode: number): boolean {
  switch (restartPolicy ?? 'Always') {
    case 'Always':
      return true;
    case 'OnFailure':
      return exitCode !== 0;
    case 'Never':
      return false;
    default:
      throw new Error(`spec.restartPolicy "${restartPolicy}" is not Always, OnFailure or Never`);
  }
}
