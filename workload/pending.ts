/**
 * The increments that were promised (the client already has its 200) but not yet confirmed by
 * Redis. Each waits the work delay (the article's "business logic"), then joins a batch that the
 * counter applies exactly once.
 *
 * The work delay is the same for every increment, so due times arrive in order: one FIFO queue of
 * due times and one timer for its head replace a timer per request, and increments that fall due
 * together leave in one Redis call, as one count.
 *
 * One batch is in flight at a time, and a failed batch is retried (same number, same count) by
 * this one loop with backoff until Redis confirms it or the queue is abandoned at the drain
 * deadline. That order is what the counter's high-water mark relies on (batch n+1 is sent only
 * once batch n is confirmed), and with Redis down it is one retry loop, not one per batch.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Batch } from './counter.ts';

interface PendingOptions {
  workDelayMs: number;
  /**
   * The most increments that may be pending at once (waiting for their work delay or in a Redis
   * call). Past it `add` refuses, so the process never promises more than it can hold.
   */
  maxPending: number;
  /**
   * How long the timer waits past the oldest increment's due time, so that the increments falling
   * due meanwhile leave in the same Redis call. Without it the timer fires every event-loop turn
   * under load and each call carries one or two increments (measured: a quarter of the CPU went
   * to Redis calls at 26,000 requests/s). An increment is never early, at most this much late
   * (plus the Redis round trip of the batch before it).
   */
  batchWindowMs?: number;
  /** Applies a batch exactly once; resolves true when applied now, false when applied before. */
  apply: (batch: Batch) => Promise<boolean>;
  observer?: PendingObserver;
  now?: () => number;
}

interface PendingObserver {
  applied?(batch: Batch, appliedBefore: boolean): void;
  attemptFailed?(error: unknown, attempt: number, batch: Batch): void;
  recovered?(attempts: number, batch: Batch): void;
}

/** What `add` did with a promised increment. */
type AddResult = 'accepted' | 'full';

const BACKOFF_FIRST_MS = 50;
const BACKOFF_MAX_MS = 1000;

export class PendingIncrements {
  readonly #options: PendingOptions;
  readonly #now: () => number;
  // Due times only, with a moving head: the request ids never go to Redis (a batch is a count).
  #dues: number[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The batch in a Redis call (or waiting to be retried), if any. */
  #inFlight: Batch | undefined;
  #lastSeq = 0;
  #accepted = 0;
  #completed = 0;
  #abandoned = false;
  readonly #stop = new AbortController();
  #waiters: Array<() => void> = [];

  constructor(options: PendingOptions) {
    if (!Number.isInteger(options.maxPending) || options.maxPending < 1) {
      throw new Error(`maxPending=${options.maxPending} is not allowed: expected an integer of at least 1`);
    }
    this.#options = options;
    this.#now = options.now ?? performance.now.bind(performance);
  }

  /** Increments accepted since start. */
  get accepted(): number {
    return this.#accepted;
  }

  /** Increments Redis confirmed since start. */
  get completed(): number {
    return this.#completed;
  }

  /** Increments promised and not yet confirmed: waiting for their work delay or in a Redis call. */
  get size(): number {
    return this.#dues.length - this.#head + (this.#inFlight?.count ?? 0);
  }

  get maxPending(): number {
    return this.#options.maxPending;
  }

  /**
   * Promises one increment, due after the work delay; 'full' (nothing promised) when
   * `maxPending` increments are pending already. Throws once the queue was abandoned.
   */
  add(): AddResult {
    if (this.#abandoned) throw new Error('the pending increments were abandoned at the drain deadline');
    if (this.size >= this.#options.maxPending) return 'full';
    this.#dues.push(this.#now() + this.#options.workDelayMs);
    this.#accepted++;
    if (this.#timer === undefined && this.#inFlight === undefined) this.#arm();
    return 'accepted';
  }

  /** Resolves true once nothing is pending, or false when `signal` aborts first. */
  waitUntilEmpty(signal: AbortSignal): Promise<boolean> {
    if (this.size === 0) return Promise.resolve(true);
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', aborted);
        resolve(true);
      };
      const aborted = (): void => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== done);
        resolve(false);
      };
      this.#waiters.push(done);
      signal.addEventListener('abort', aborted, { once: true });
    });
  }

  /**
   * Gives up on everything still pending (the drain deadline passed) and returns how many
   * increments that is. A batch in a Redis call at this moment counts as abandoned: its reply is
   * the only proof it was applied, and the process is about to exit without it.
   */
  abandon(): number {
    const abandoned = this.size;
    this.#abandoned = true;
    this.#stop.abort();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#dues = [];
    this.#head = 0;
    this.#inFlight = undefined;
    return abandoned;
  }

  #arm(): void {
    const due = this.#dues[this.#head];
    if (due === undefined || this.#abandoned) return;
    this.#timer = setTimeout(this.#fire, Math.max(0, due - this.#now()) + (this.#options.batchWindowMs ?? 0));
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    // Timers run on the event loop's cached millisecond clock; allow that much slack so a timer
    // that fires a fraction of a millisecond "early" by performance.now() does not spin.
    const now = this.#now() + 1;
    let last = this.#head;
    while (last < this.#dues.length && (this.#dues[last] ?? Infinity) <= now) last++;
    if (last === this.#head) {
      this.#arm();
      return;
    }
    const batch: Batch = { seq: ++this.#lastSeq, count: last - this.#head };
    this.#head = last;
    this.#inFlight = batch;
    this.#compact();
    void this.#send(batch);
  };

  /** Sends `batch` until Redis confirms it (or the queue is abandoned), then arms the next one. */
  async #send(batch: Batch): Promise<void> {
    const { apply, observer } = this.#options;
    const signal = this.#stop.signal;
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        const appliedNow = await apply(batch);
        if (signal.aborted) return;
        this.#inFlight = undefined;
        this.#completed += batch.count;
        observer?.applied?.(batch, !appliedNow);
        if (attempt > 1) observer?.recovered?.(attempt, batch);
        this.#settle();
        this.#arm();
        return;
      } catch (error) {
        if (signal.aborted) return;
        observer?.attemptFailed?.(error, attempt, batch);
        // Exponential backoff with jitter, so writers failing together do not retry in lockstep.
        const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (attempt - 1));
        await sleep(backoff / 2 + Math.random() * (backoff / 2), undefined, { signal }).catch(
          () => undefined,
        );
      }
    }
  }

  #settle(): void {
    if (this.size !== 0 || this.#waiters.length === 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }

  #compact(): void {
    if (this.#head > 4096 && this.#head * 2 > this.#dues.length) {
      this.#dues = this.#dues.slice(this.#head);
      this.#head = 0;
    }
  }
}
