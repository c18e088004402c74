/** The one-line-per-second progress of a running experiment. Pure formatting. */

interface ProgressState {
  elapsedSeconds: number;
  /** requests vegeta has sent so far (its pacer is exact) */
  sent: number;
  /** results in: answered or failed */
  answered: number;
  ok: number;
  failed: number;
  podsReady: number;
  podsTerminating: number;
  counter: number | null;
  /** e.g. "rollout 1/2 -> v2 running 6s" */
  phase: string;
}

export function formatProgress(s: ProgressState): string {
  const pad = (n: number, width: number) => String(n).padStart(width);
  return [
    `${pad(Math.round(s.elapsedSeconds), 4)}s`,
    `sent ${pad(s.sent, 6)}`,
    `answered ${pad(s.answered, 6)}`,
    `ok ${pad(s.ok, 6)}`,
    `failed ${pad(s.failed, 4)}`,
    `| pods ready ${pad(s.podsReady, 2)} terminating ${pad(s.podsTerminating, 2)}`,
    `| counter ${s.counter === null ? '     ?' : pad(s.counter, 6)}`,
    s.phase === '' ? '' : `| ${s.phase}`,
  ]
    .filter((part) => part !== '')
    .join('  ');
}
