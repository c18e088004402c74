/**
 * Counts vegeta's results: totals, failures by cause, and the load per
 * second, counted from the moment vegeta really sent its first request.
 *
 * Why from the first request and not from the spawn: starting a process
 * takes from milliseconds to seconds on a loaded machine, and that delay is
 * not part of the load. vegeta stamps each request with the time it was sent
 * and numbers it (`seq`) under one lock (lib/attack.go hit()), so seq 0 is
 * the earliest request; results arrive in order of completion, though, so the
 * few that complete before seq 0 wait until its time is known.
 */

/** The subset of vegeta's JSON result that matters here (lib/results.go). */
export interface VegetaResult {
  seq: number;
  code: number;
  timestamp: string;
  /** nanoseconds */
  latency: number;
  error: string;
}

/**
 * What vegeta reports for a hit that found no target left (lib/targets.go ErrNoTargets): no
 * request was sent. The load driver ends its attack this way, so these results are not counted.
 */
const NO_TARGETS_LEFT = 'no targets to attack';

/** One second of load, by the time requests were sent. */
export interface LoadSecond {
  sent: number;
  ok: number;
  failed: number;
}

export interface LoadTotals {
  sent: number;
  ok: number;
  failed: number;
  /** failures by cause ("HTTP 503", "connection refused", ...) */
  failures: Record<string, number>;
  /** per second since firstSentAt, by request start */
  perSecond: LoadSecond[];
  /** slowest answer in milliseconds */
  maxLatencyMs: number;
  /** wall-clock ms when vegeta was started (spawned) */
  startedAt: number;
  /** wall-clock ms when vegeta sent its first request (second 0 of perSecond); null before it is known */
  firstSentAt: number | null;
  /** wall-clock ms when vegeta sent the latest request counted so far */
  lastSentAt: number | null;
  finishedAt: number;
}

interface Sent {
  at: number;
  ok: boolean;
}

export class LoadTally {
  readonly #totals: LoadTotals;
  /** results that completed before seq 0 did: bucketed once its time is known */
  #waiting: Sent[] = [];

  constructor(startedAt: number) {
    this.#totals = {
      sent: 0,
      ok: 0,
      failed: 0,
      failures: {},
      perSecond: [],
      maxLatencyMs: 0,
      startedAt,
      firstSentAt: null,
      lastSentAt: null,
      finishedAt: 0,
    };
  }

  /** when vegeta sent its first request, once known */
  get firstSentAt(): number | null {
    return this.#totals.firstSentAt;
  }

  /** Counts one result: 2xx is ok, anything else (a code or a transport error) failed. */
  add(result: VegetaResult): void {
    if (result.code === 0 && result.error === NO_TARGETS_LEFT) return;
    const t = this.#totals;
    const at = Date.parse(result.timestamp);
    const ok = result.code >= 200 && result.code < 300;
    t.sent++;
    t.maxLatencyMs = Math.max(t.maxLatencyMs, result.latency / 1e6);
    t.lastSentAt = t.lastSentAt === null ? at : Math.max(t.lastSentAt, at);
    if (ok) t.ok++;
    else {
      t.failed++;
      const cause = failureCause(result);
      t.failures[cause] = (t.failures[cause] ?? 0) + 1;
    }
    if (result.seq === 0) {
      t.firstSentAt = at;
      for (const waiting of this.#waiting) this.#bucket(waiting);
      this.#waiting = [];
    }
    if (t.firstSentAt === null) this.#waiting.push({ at, ok });
    else this.#bucket({ at, ok });
  }

  /**
   * Every result is in. If seq 0 never came (vegeta interrupted before its
   * answer was written), the earliest request seen starts the count.
   */
  finish(finishedAt: number): void {
    const t = this.#totals;
    t.finishedAt = finishedAt;
    if (t.firstSentAt !== null || this.#waiting.length === 0) return;
    t.firstSentAt = Math.min(...this.#waiting.map((w) => w.at));
    for (const waiting of this.#waiting) this.#bucket(waiting);
    this.#waiting = [];
  }

  snapshot(): LoadTotals {
    const t = this.#totals;
    return { ...t, failures: { ...t.failures }, perSecond: t.perSecond.map((s) => ({ ...s })) };
  }

  #bucket({ at, ok }: Sent): void {
    const t = this.#totals;
    // vegeta stamps with its own clock reading; ms truncation can put one a hair before seq 0's
    const second = Math.max(0, Math.floor((at - (t.firstSentAt as number)) / 1000));
    while (t.perSecond.length <= second) t.perSecond.push({ sent: 0, ok: 0, failed: 0 });
    const bucket = t.perSecond[second] as LoadSecond;
    bucket.sent++;
    if (ok) bucket.ok++;
    else bucket.failed++;
  }
}

/**
 * The load per second on another clock's seconds (the experiment's, which start
 * when it spawned vegeta): the seconds before the first request are empty.
 */
export function perSecondSince(origin: number, totals: LoadTotals): LoadSecond[] {
  if (totals.firstSentAt === null) return totals.perSecond;
  const lead = Math.max(0, Math.round((totals.firstSentAt - origin) / 1000));
  return [...Array.from({ length: lead }, () => ({ sent: 0, ok: 0, failed: 0 })), ...totals.perSecond];
}

/**
 * A short, countable cause. vegeta's transport errors carry the whole
 * request line ("Get \"http://...\": dial tcp 127.0.0.1:30080: connect:
 * connection refused"); the last clause names what happened.
 */
export function failureCause(result: Pick<VegetaResult, 'code' | 'error'>): string {
  if (result.code !== 0) return `HTTP ${result.code}`;
  const error = result.error.trim();
  if (error === '') return 'no answer';
  const parts = error.split(': ');
  return (parts[parts.length - 1] as string).slice(0, 80);
}
