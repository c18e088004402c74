import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Exactly-once increments with bookkeeping that grows with the number of writers, not requests.
 *
 * Each workload process is one writer with a random id. It sends its increments in batches
 * numbered 1, 2, 3, ... and sends batch n+1 only after Redis confirmed batch n (pending.ts keeps
 * one batch in flight). Redis keeps one record per writer, its high-water mark: the number of the
 * last batch applied. The script applies a batch only when its number is above the mark and
 * raises the mark in the same atomic step. So:
 * - a batch re-sent after a lost reply (ioredis re-sends unanswered commands after a reconnect,
 *   and pending.ts retries a failed batch) finds its number at the mark: not counted again;
 * - a stale copy of an older batch arriving after a newer one finds its number below the mark:
 *   the older batch was confirmed before the newer one was sent, so it was applied already;
 * - a restarted process is a new writer (new id, numbers from 1), never confused with its
 *   predecessor.
 * A retried batch carries the same number and the same count, so every copy means the same thing.
 *
 * KEYS[1] = the counter, KEYS[2] = the writer's record; ARGV[1] = batch number, ARGV[2] = count,
 * ARGV[3] = the record's expiry in ms. Returns 1 when applied now, 0 when it had been applied.
 */
const APPLY_SCRIPT = `
local batch = tonumber(ARGV[1])
local mark = tonumber(redis.call('GET', KEYS[2]) or '0')
if batch <= mark then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return 1
`;
const APPLY_SHA = createHash('sha1').update(APPLY_SCRIPT).digest('hex');

/**
 * How long a writer's record outlives its last batch. It must outlive every copy of that batch
 * still on its way: a copy exists only while the batch is unconfirmed (a retry, an ioredis
 * re-send, a command timed out on the client but still in the socket), i.e. seconds, or as long
 * as Redis stays unreachable. A day covers any outage a running writer would wait out; it is
 * refreshed by every batch, so a live writer's record never expires while it works.
 */
export const WRITER_RECORD_TTL_MS = 24 * 3_600_000;

/**
 * The record's expiry once its writer is done (the process is exiting: no batch of it will be
 * retried again). Only copies already in the network can still arrive, within seconds; ten
 * minutes is far beyond that and keeps records of pods replaced by rollouts from piling up.
 */
export const RETIRED_WRITER_TTL_MS = 10 * 60_000;

/** One batch of one writer: its number (1, 2, 3, ... per writer) and how many increments it carries. */
export interface Batch {
  seq: number;
  count: number;
}

export class Counter {
  readonly key: string;
  readonly writerId: string;
  readonly #redis: Redis;
  readonly #recordKey: string;

  constructor(redis: Redis, key: string, writerId: string) {
    this.#redis = redis;
    this.key = key;
    this.writerId = writerId;
    // The braces put the counter and the writer records in one Redis Cluster hash slot, so the
    // script's keys stay on one node should the Redis ever be a cluster.
    this.#recordKey = writerRecordKey(key, writerId);
  }

  /** Applies `batch` unless it was applied before; resolves true when it was applied now. */
  async apply(batch: Batch): Promise<boolean> {
    const args = [2, this.key, this.#recordKey, batch.seq, batch.count, WRITER_RECORD_TTL_MS] as const;
    try {
      return Number(await this.#redis.evalsha(APPLY_SHA, ...args)) === 1;
    } catch (error) {
      // A restarted Redis has forgotten the script: send its text once, which also caches it again.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return Number(await this.#redis.eval(APPLY_SCRIPT, ...args)) === 1;
    }
  }

  /**
   * Shortens the writer's record to RETIRED_WRITER_TTL_MS: called when the process is exiting and
   * will never retry a batch again. A record that was never written is left absent.
   */
  async retire(): Promise<void> {
    await this.#redis.pexpire(this.#recordKey, RETIRED_WRITER_TTL_MS);
  }

  /** The counter's current value (0 when the key does not exist yet). */
  async read(): Promise<number> {
    const raw = await this.#redis.get(this.key);
    return raw === null ? 0 : Number(raw);
  }
}

/** The Redis key holding a writer's high-water mark. */
export function writerRecordKey(counterKey: string, writerId: string): string {
  return `{${counterKey}}:writer:${writerId}`;
}
