import { type BackoffPolicy, defaultBackoff, FailureCounter } from '../../kube/backoff.ts';

/**
 * A work queue of keys ("namespace/name"), with the guarantees client-go's workqueue gives a
 * level-triggered controller:
 *  - a key waiting in the queue is there once, however many events named it (dedup);
 *  - a key is handed to one worker at a time: if it is added while a worker holds it, it is queued
 *    again when that worker calls done(), so the change is never lost and never processed in parallel;
 *  - failed keys come back after an exponential back-off with jitter; a success forgets the failures;
 *  - addAfter() schedules a key for later (requeue-after), keeping the earliest of several schedules.
 */
export class WorkQueue {
  readonly #queue: string[] = [];
  /** Keys that need processing: waiting in #queue, or re-added while a worker holds them. */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #waiters: Array<(key: string | undefined) => void> = [];
  readonly #failures: FailureCounter;
  #shuttingDown = false;
  #onDepthChange: ((depth: number) => void) | undefined;

  constructor(
    opts: { backoff?: BackoffPolicy; random?: () => number; onDepthChange?: (depth: number) => void } = {},
  ) {
    this.#failures = new FailureCounter(opts.backoff ?? defaultBackoff, opts.random);
    this.#onDepthChange = opts.onDepthChange;
  }

  /** Keys waiting to be handed out (not counting keys being processed or scheduled for later). */
  get depth(): number {
    return this.#queue.length;
  }

  get processing(): number {
    return this.#processing.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    // done() queues it again; queuing it now would let a second worker take it in parallel.
    if (this.#processing.has(key)) return;
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#take(key);
      waiter(key);
      return;
    }
    this.#queue.push(key);
    this.#onDepthChange?.(this.#queue.length);
  }

  /** Adds `key` after `delayMs`; an earlier pending schedule for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const pending = this.#delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, delayMs);
    // A scheduled retry must not keep a shutting-down process alive.
    timer.unref();
    this.#delayed.set(key, { at, timer });
  }

  /** Adds `key` after its back-off delay; returns the delay chosen. */
  addRateLimited(key: string): number {
    const delay = this.#failures.next(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** The key succeeded: its next failure starts from the base delay again. */
  forget(key: string): void {
    this.#failures.forget(key);
  }

  failures(key: string): number {
    return this.#failures.failures(key);
  }

  /**
   * The next key to process, or undefined once the queue shuts down. The caller owns the key until
   * it calls done(key).
   */
  get(): Promise<string | undefined> {
    if (this.#shuttingDown) return Promise.resolve(undefined);
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#take(key);
      this.#onDepthChange?.(this.#queue.length);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key) && !this.#shuttingDown) {
      this.#dirty.delete(key);
      this.add(key);
    }
  }

  /**
   * Stop handing out keys: waiting get() calls resolve to undefined, queued and scheduled keys are
   * dropped (the next leader relists and enqueues everything anyway). Keys being processed finish.
   */
  shutDown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    this.#queue.length = 0;
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
    this.#onDepthChange?.(0);
  }

  #take(key: string): void {
    this.#dirty.delete(key);
    this.#processing.add(key);
  }
}
