/**
 * The proxy's routing view of the EndpointSlices, lagging its watch by a configurable delay.
 *
 * Why: on this machine an EndpointSlice change reaches the proxy in tens of milliseconds, so a
 * pod's preStop sleep (spec.drain.propagationSeconds) is never exercised: new connections stop
 * going to a deleted pod long before it closes its listener. Real data paths are slower: kube-proxy
 * (iptables, minSyncPeriod 1 s) on kind took 0.22-0.96 s; cloud load balancers take seconds. With a
 * delay, every change (add, update, delete) takes effect for new connections `delay` after the
 * watch delivered it, in the order the watch delivered them, as a slow proxy or load balancer
 * would apply them.
 */

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface Pending<T> {
  /** when the watch delivered the change */
  seenAt: number;
  /** when it takes effect */
  applyAt: number;
  key: string;
  value: T | undefined;
}

/** The largest delay accepted: beyond a few minutes a rollout's changes would pile up unseen. */
export const MAX_ENDPOINT_DELAY_SECONDS = 600;

/** Validates a delay in seconds (fractions allowed); the message names what is allowed. */
export function parseEndpointDelay(text: string, what = 'endpoint delay'): number {
  const n = /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isFinite(n) || n < 0 || n > MAX_ENDPOINT_DELAY_SECONDS) {
    throw new Error(
      `${what}: "${text}" is not allowed; use seconds from 0 to ${MAX_ENDPOINT_DELAY_SECONDS} (fractions allowed, e.g. 0.5)`,
    );
  }
  return n;
}

export class DelayedView<T> {
  readonly #routed = new Map<string, T>();
  #queue: Pending<T>[] = [];
  #delayMs: number;
  #timer: unknown;
  readonly #clock: Clock;

  constructor(delaySeconds = 0, clock: Clock = systemClock) {
    this.#delayMs = Math.round(delaySeconds * 1000);
    this.#clock = clock;
  }

  get delaySeconds(): number {
    return this.#delayMs / 1000;
  }

  /** A change the watch delivered: `value` undefined means deleted. */
  update(key: string, value: T | undefined): void {
    const now = this.#clock.now();
    const last = this.#queue.at(-1);
    if (this.#delayMs === 0 && last === undefined) {
      this.#apply(key, value);
      return;
    }
    // Never before a change delivered earlier: the order of the watch is kept.
    const applyAt = Math.max(now + this.#delayMs, last?.applyAt ?? 0);
    this.#queue.push({ seenAt: now, applyAt, key, value });
    this.#arm();
  }

  /**
   * A new delay, effective at once for changes still pending too (each at its delivery time plus
   * the new delay, never before a change delivered earlier), as a reconfigured proxy would behave.
   */
  setDelay(seconds: number): void {
    this.#delayMs = Math.round(seconds * 1000);
    let floor = 0;
    for (const p of this.#queue) {
      p.applyAt = Math.max(p.seenAt + this.#delayMs, floor);
      floor = p.applyAt;
    }
    this.#arm();
  }

  /** What new connections are routed by. */
  values(): T[] {
    return [...this.#routed.values()];
  }

  /** Changes delivered but not yet in effect. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Drops pending changes and timers (shutdown). */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
  }

  #apply(key: string, value: T | undefined): void {
    if (value === undefined) this.#routed.delete(key);
    else this.#routed.set(key, value);
  }

  #arm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const next = this.#queue[0];
    if (next === undefined) return;
    this.#timer = this.#clock.setTimeout(
      () => {
        this.#timer = undefined;
        this.#drainDue();
      },
      Math.max(0, next.applyAt - this.#clock.now()),
    );
  }

  #drainDue(): void {
    const now = this.#clock.now();
    while (this.#queue.length > 0 && (this.#queue[0] as Pending<T>).applyAt <= now) {
      const p = this.#queue.shift() as Pending<T>;
      this.#apply(p.key, p.value);
    }
    this.#arm();
  }
}
