import type { Logger } from 'pino';
import { errorText } from '../../kube/errors.ts';
import type { Change, Reflector } from '../../kube/reflector.ts';
import type { KubeObject } from '../../kube/resources.ts';
import type { Metrics } from './metrics.ts';
import { WorkQueue } from './queue.ts';

/** What a reconcile asks for next. `requeueAfterMs`: look again later even if nothing changes. */
export interface ReconcileResult {
  requeueAfterMs?: number;
}

/**
 * Reconciles one key. `signal` aborts when this replica must stop writing (the controller's
 * `signal` aborted: lost lease, shutdown); a reconcile checks it before each write and rejects
 * with its reason.
 */
export type Reconcile = (key: string, signal: AbortSignal) => Promise<ReconcileResult | undefined>;

/** Maps a change of a watched object to the keys of the objects whose reconcile it affects. */
type KeyMapper<T extends KubeObject> = (change: Change<T>) => Iterable<string>;

interface ControllerOptions {
  name: string;
  reconcile: Reconcile;
  log: Logger;
  metrics: Metrics;
  /** Keys reconciled in parallel (never the same key twice at once). */
  concurrency?: number;
  /**
   * Aborting it cancels the reconciles in flight (their writes stop at once) and stops the workers,
   * e.g. when the lease is lost: another replica may already be writing.
   */
  signal?: AbortSignal;
}

/**
 * The controller loop: watched changes become keys in a WorkQueue; `concurrency` workers take keys
 * and run the reconcile. The reconcile is level-triggered: it gets a key, not an event, reads the
 * current state and makes the world match, so a repeated, merged or missed event does no harm.
 * Errors are retried with back-off; a success forgets the key's failures.
 */
export class Controller {
  readonly queue: WorkQueue;
  readonly #opts: ControllerOptions;
  readonly #workers: Promise<void>[] = [];
  readonly #cancel = new AbortController();
  #started = false;

  constructor(opts: ControllerOptions) {
    this.#opts = opts;
    this.queue = new WorkQueue({
      onDepthChange: (depth) => opts.metrics.queueDepth.set({ controller: opts.name }, depth),
    });
    opts.signal?.addEventListener('abort', () => this.cancel(opts.signal?.reason), { once: true });
  }

  /** Enqueue the keys `map` returns for every change `reflector` sees. */
  watch<T extends KubeObject>(reflector: Reflector<T>, map: KeyMapper<T>): void {
    reflector.onChange((change) => {
      for (const key of map(change)) this.queue.add(key);
    });
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    const concurrency = Math.max(1, this.#opts.concurrency ?? 4);
    for (let i = 0; i < concurrency; i++) this.#workers.push(this.#work());
  }

  /** Stop taking keys and wait for the reconciles in flight to finish. */
  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all(this.#workers);
  }

  /**
   * Stop taking keys and abort the reconciles in flight: for a replica that must stop writing now
   * (lost lease), not for a graceful shutdown, which lets them finish. `stop()` then waits for them.
   */
  cancel(reason: unknown = new Error('controller cancelled')): void {
    this.queue.shutDown();
    if (!this.#cancel.signal.aborted) this.#cancel.abort(reason);
  }

  async #work(): Promise<void> {
    const { name, reconcile, log, metrics } = this.#opts;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const end = metrics.reconcileDuration.startTimer({ controller: name });
      const signal = this.#cancel.signal;
      try {
        const result = await reconcile(key, signal);
        this.queue.forget(key);
        if (result?.requeueAfterMs !== undefined) {
          metrics.reconciles.inc({ controller: name, result: 'requeue_after' });
          this.queue.addAfter(key, result.requeueAfterMs);
        } else {
          metrics.reconciles.inc({ controller: name, result: 'success' });
        }
      } catch (err) {
        if (signal.aborted) {
          // Cancelled, not failed: the queue is shut down, and the next leader reconciles every key.
          metrics.reconciles.inc({ controller: name, result: 'cancelled' });
          log.info({ key, reason: errorText(signal.reason) }, 'reconcile cancelled');
          continue;
        }
        const retryInMs = this.queue.addRateLimited(key);
        metrics.reconciles.inc({ controller: name, result: 'error' });
        metrics.reconcileErrors.inc({ controller: name });
        log.error(
          { key, err: errorText(err), retryInMs, failures: this.queue.failures(key) },
          'reconcile failed',
        );
      } finally {
        end();
        this.queue.done(key);
      }
    }
  }
}
