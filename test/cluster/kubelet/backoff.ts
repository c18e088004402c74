/**
 * The kubelet's crash-loop back-off (pkg/kubelet: initial 10 s, doubling, capped at 300 s; the
 * back-off is forgotten when the container ran longer than twice the cap).
 */
export const INITIAL_BACKOFF_MS = 10_000;
export const MAX_BACKOFF_MS = 300_000;

export class CrashBackoff {
  private current = 0;
  private readonly initialMs: number;
  private readonly maxMs: number;

  constructor(initialMs = INITIAL_BACKOFF_MS, maxMs = MAX_BACKOFF_MS) {
    this.initialMs = initialMs;
    this.maxMs = maxMs;
  }

  /** The delay before the next start, given how long the container just ran. */
  next(ranForMs: number): number {
    if (ranForMs > 2 * this.maxMs) this.current = 0;
    this.current = this.current === 0 ? this.initialMs : Math.min(this.current * 2, this.maxMs);
    return this.current;
  }

  reset(): void {
    this.current = 0;
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
