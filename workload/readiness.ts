/**
 * Readiness: can this process accept work it will keep? Ready while it is serving (not draining),
 * its pending increments are below READY_PENDING_FRACTION of the limit, and Redis answered
 * recently. /readyz only reads these facts; it never waits for Redis itself.
 *
 * Why "recently" and not "now": a readiness check that pings Redis with a short timeout turns every
 * pod unready in the same second when Redis stalls briefly (a fork for the append-only rewrite, a
 * failover, a slow disk), which empties every endpoint of the Service at once: a total outage, and
 * rollouts stall. A pod whose Redis stalls for a few seconds can still accept work (it waits in the
 * pending queue, bounded by the limit) and should keep its endpoint; a pod that has not reached
 * Redis for REDIS_UNREACHABLE_AFTER_MS should hand its traffic to the others.
 */
export const REDIS_UNREACHABLE_AFTER_MS = 10_000;

/** How often Redis is pinged in the background when no batch has proven it reachable. */
const REDIS_PING_INTERVAL_MS = 1000;

/**
 * Unready from this share of the pending limit on: the endpoint leaves the Service (one or two
 * readiness periods later) while the pod can still take the requests already routed to it, instead
 * of answering 503 first.
 */
export const READY_PENDING_FRACTION = 0.9;

export type Readiness = { ready: true } | { ready: false; reason: string };

interface ReadinessFacts {
  /** False once the drain started. */
  serving: boolean;
  drainPhase: string;
  pending: number;
  maxPending: number;
  /** Milliseconds since Redis last answered (Infinity when it never has). */
  sinceRedisAnsweredMs: number;
}

export function readiness(facts: ReadinessFacts): Readiness {
  if (!facts.serving) return { ready: false, reason: `draining (${facts.drainPhase})` };
  const threshold = Math.ceil(facts.maxPending * READY_PENDING_FRACTION);
  if (facts.pending >= threshold) {
    return {
      ready: false,
      reason: `${facts.pending} increments pending, ${threshold} or more (${READY_PENDING_FRACTION * 100} % of the limit ${facts.maxPending})`,
    };
  }
  if (facts.sinceRedisAnsweredMs === Number.POSITIVE_INFINITY) {
    return { ready: false, reason: 'Redis has not answered yet' };
  }
  if (facts.sinceRedisAnsweredMs > REDIS_UNREACHABLE_AFTER_MS) {
    return {
      ready: false,
      reason: `Redis has not answered for ${Math.round(facts.sinceRedisAnsweredMs / 1000)} s (more than ${REDIS_UNREACHABLE_AFTER_MS / 1000} s)`,
    };
  }
  return { ready: true };
}

/**
 * When Redis last answered: every confirmed batch says so, and a background PING (one at a time,
 * every REDIS_PING_INTERVAL_MS) covers the quiet times.
 */
export class RedisContact {
  readonly #ping: () => Promise<boolean>;
  readonly #now: () => number;
  #lastAnswerAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;
  #pinging = false;

  constructor(ping: () => Promise<boolean>, now: () => number = performance.now.bind(performance)) {
    this.#ping = ping;
    this.#now = now;
  }

  /** Redis answered (a batch confirmed, a PING answered). */
  answered(): void {
    this.#lastAnswerAt = this.#now();
  }

  get sinceAnsweredMs(): number {
    return this.#now() - this.#lastAnswerAt;
  }

  start(): void {
    const tick = (): void => {
      if (this.#pinging || this.sinceAnsweredMs < REDIS_PING_INTERVAL_MS) return;
      this.#pinging = true;
      this.#ping()
        .then((ok) => {
          if (ok) this.answered();
        })
        .catch(() => {})
        .finally(() => {
          this.#pinging = false;
        });
    };
    tick();
    this.#timer = setInterval(tick, REDIS_PING_INTERVAL_MS);
    // Never the reason the process stays alive.
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
