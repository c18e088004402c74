import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Applies a batch of increments exactly once. Each increment carries the id of the request that
 * asked for it; the script marks the id as applied (SET NX with an expiry) and counts only the ids
 * it marked itself, all in one atomic step. A batch that is sent again (ioredis re-sends unanswered
 * commands after a reconnect, and the work queue retries failed batches) therefore adds nothing the
 * second time, even when the first copy was applied and only its reply was lost.
 *
 * KEYS[1] = the counter, KEYS[2..n] = one idempotency key per request id, ARGV[1] = expiry in ms.
 * Returns how many ids were new (the rest had already been applied).
 */
const APPLY_SCRIPT = `
local applied = 0
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'PX', ARGV[1]) then applied = applied + 1 end
end
if applied > 0 then redis.call('INCRBY', KEYS[1], applied) end
return applied
`;
const APPLY_SHA = createHash('sha1').update(APPLY_SCRIPT).digest('hex');

/**
 * How long an idempotency key outlives its increment. A re-send happens within seconds of the
 * first copy (a reconnect or a retry inside the drain deadline); an hour is far beyond that and
 * still bounds Redis memory (about 60 bytes a key).
 */
export const IDEMPOTENCY_TTL_MS = 3_600_000;

export class Counter {
  readonly key: string;
  readonly #redis: Redis;
  readonly #markerPrefix: string;

  constructor(redis: Redis, key: string) {
    this.#redis = redis;
    this.key = key;
    // The braces make the counter and its markers one Redis Cluster hash slot, so the script's keys
    // stay on one node should the Redis ever be a cluster.
    this.#markerPrefix = `{${key}}:applied:`;
  }

  /** The Redis key that records that the increment of `id` was applied. */
  markerKey(id: string): string {
    return this.#markerPrefix + id;
  }

  /** Applies the increments of `ids` once each; resolves with how many were new. */
  async apply(ids: readonly string[]): Promise<number> {
    const keys = new Array<string>(ids.length + 1);
    keys[0] = this.key;
    for (let i = 0; i < ids.length; i++) keys[i + 1] = this.#markerPrefix + ids[i];
    try {
      return Number(await this.#redis.evalsha(APPLY_SHA, keys.length, ...keys, IDEMPOTENCY_TTL_MS));
    } catch (error) {
      // A restarted Redis has forgotten the script: send its text once, which also caches it again.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return Number(await this.#redis.eval(APPLY_SCRIPT, keys.length, ...keys, IDEMPOTENCY_TTL_MS));
    }
  }

  /** The counter's current value (0 when the key does not exist yet). */
  async read(): Promise<number> {
    const raw = await this.#redis.get(this.key);
    return raw === null ? 0 : Number(raw);
  }
}
