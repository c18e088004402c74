import { setTimeout as sleep } from 'node:timers/promises';
import { type DrainReport, gracefulDrainReport } from '../contracts/drain-report.ts';

/**
 * The graceful shutdown as a small state machine:
 *
 *   serving --signal--> delaying --SHUTDOWN_DELAY_MS--> closing --listener closed--> draining --> stopped
 *
 * - delaying: /readyz answers 503 and requests are still served. Endpoint removal and SIGTERM
 *   start in parallel when a pod is deleted; kube-proxy and load balancers learn of the removal
 *   later, so a listener closed at SIGTERM would refuse connections still routed here.
 *   (0 when the pod's preStop `sleep` already waited for that.)
 * - closing: the listener stops accepting; every response from now on carries `Connection: close`,
 *   because keep-alive clients keep sending to a pod whose endpoint is gone; sockets idle for a
 *   second are closed (not at once: that races the client's next request, connections.ts).
 * - draining: wait for open requests and for every pending increment, bounded by the deadline.
 * - stopped: Redis closed; the report decides the exit code (contracts/drain-report.ts: drained, or
 *   deadlinePassed with the abandoned increments counted).
 *
 * The deadline (DRAIN_TIMEOUT_MS) counts from the signal and covers all phases.
 */
export type DrainPhase = 'serving' | 'delaying' | 'closing' | 'draining' | 'stopped';

/** What the drain needs from the rest of the process, each a single step. */
export interface DrainSteps {
  /** Stops accepting connections; resolves once every open connection has ended. */
  closeListener(): Promise<void>;
  /** Closes keep-alive sockets idle long enough to be safe; called repeatedly while the listener drains. */
  closeIdleConnections(): void;
  /** Cuts every remaining connection (deadline passed). */
  closeAllConnections(): void;
  /** Totals since start, to compute the counts of the drain. */
  counts(): { pending: number; accepted: number; completed: number };
  /** Resolves true when no increment is pending, false when `signal` aborts first. */
  waitForIncrements(signal: AbortSignal): Promise<boolean>;
  /** Gives up on the pending increments; returns how many there were. */
  abandonIncrements(): number;
  /** Closes the Redis client. */
  closeRedis(): Promise<void>;
}

interface DrainOptions {
  shutdownDelayMs: number;
  drainTimeoutMs: number;
  steps: DrainSteps;
  onPhase?: (phase: DrainPhase, details: Record<string, unknown>) => void;
  now?: () => number;
}

/** How often idle keep-alive sockets are swept while the listener drains. */
const IDLE_SWEEP_MS = 100;

export class Drain {
  #phase: DrainPhase = 'serving';
  readonly #options: DrainOptions;
  readonly #now: () => number;
  #result: Promise<DrainReport> | undefined;
  #deadlineAt: number | undefined;

  constructor(options: DrainOptions) {
    this.#options = options;
    this.#now = options.now ?? performance.now.bind(performance);
  }

  get phase(): DrainPhase {
    return this.#phase;
  }

  /** Readiness: false from the signal on, so the endpoint leaves the Service. */
  get ready(): boolean {
    return this.#phase === 'serving';
  }

  /** From the listener close on, every response asks the client to close its connection. */
  /**
   * Whether work falling due at `dueAt` (on this drain's clock, performance.now() by default) can
   * be confirmed before the drain deadline: always while serving, afterwards only if it falls due
   * by the deadline. Promising anything else would be a 200 the process cannot keep.
   */
  canFinishBy(dueAt: number): boolean {
    return this.#deadlineAt === undefined || dueAt <= this.#deadlineAt;
  }

  get closing(): boolean {
    return this.#phase !== 'serving' && this.#phase !== 'delaying';
  }

  /**
   * Starts the drain. A second call (a second signal) returns undefined and changes nothing:
   * cutting the drain short would throw away the very increments it protects.
   */
  start(): Promise<DrainReport> | undefined {
    if (this.#result !== undefined) return undefined;
    this.#result = this.#run();
    return this.#result;
  }

  async #run(): Promise<DrainReport> {
    const { steps, shutdownDelayMs, drainTimeoutMs } = this.#options;
    const startedAt = this.#now();
    this.#deadlineAt = startedAt + drainTimeoutMs;
    const atSignal = steps.counts();

    // The deadline counts from the signal, so SIGTERM-to-exit stays within DRAIN_TIMEOUT_MS plus
    // closing Redis: the operator sizes terminationGracePeriodSeconds from that number.
    const deadline = new AbortController();
    const deadlineTimer = setTimeout(() => deadline.abort(), drainTimeoutMs);

    this.#enter('delaying', { pending: atSignal.pending, shutdownDelayMs, drainTimeoutMs });
    // The deadline ends the delay early (DRAIN_TIMEOUT_MS shorter than the delay): the abort resolves it.
    if (shutdownDelayMs > 0) {
      await sleep(shutdownDelayMs, undefined, { signal: deadline.signal }).catch(() => undefined);
    }

    this.#enter('closing', { pending: steps.counts().pending });
    const sweep = setInterval(() => steps.closeIdleConnections(), IDLE_SWEEP_MS);
    const listenerClosed = steps.closeListener();
    const requestsDone = await Promise.race([
      listenerClosed.then(() => true),
      abortPromise(deadline.signal).then(() => false),
    ]);
    clearInterval(sweep);

    this.#enter('draining', { pending: steps.counts().pending, requestsDone });
    const incrementsDone = requestsDone && (await steps.waitForIncrements(deadline.signal));
    clearTimeout(deadlineTimer);

    let abandoned = 0;
    if (!incrementsDone) {
      abandoned = steps.abandonIncrements();
      steps.closeAllConnections();
    }
    await steps.closeRedis();

    const end = steps.counts();
    const summary = gracefulDrainReport({
      finished: incrementsDone,
      pendingAtSignal: atSignal.pending,
      completed: end.completed - atSignal.completed,
      abandoned,
      drainMs: Math.round(this.#now() - startedAt),
      acceptedDuringDrain: end.accepted - atSignal.accepted,
    });
    this.#enter('stopped', { ...summary });
    return summary;
  }

  #enter(phase: DrainPhase, details: Record<string, unknown>): void {
    this.#phase = phase;
    this.#options.onPhase?.(phase, details);
  }
}

function abortPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
