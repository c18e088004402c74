// Redis memory per increment: what the workload's exactly-once bookkeeping leaves in Redis besides
// the counter. Part of `npm run bench:workload`; alone: `npm run bench:workload -- --redis-memory`.
import { waitFor } from '../../kube/poll.ts';
import type { RedisHandle } from '../../test/workload/support.ts';
import { nodeSpec, startService } from './services.ts';
import { runWrk } from './wrk.ts';

export interface RedisMemoryFigures {
  increments: number;
  /** Keys in the database besides the counter (the bookkeeping). */
  bookkeepingKeys: number;
  /** MEMORY USAGE summed over those keys (sampled and scaled up above SAMPLE_LIMIT keys). */
  bookkeepingBytes: number;
  bookkeepingBytesPerIncrement: number;
  /** INFO memory used_memory after minus before: everything Redis allocated, counter included. */
  usedMemoryDeltaBytes: number;
  usedMemoryBytesPerIncrement: number;
}

/** Above this many keys MEMORY USAGE is read for a random sample of this size and scaled up. */
const SAMPLE_LIMIT = 2000;

/**
 * Drives the workload with wrk for `seconds` (WORK_DELAY_MS=0, so every increment reaches Redis
 * within the run), waits until nothing is pending, then reads what Redis holds. The database is
 * flushed first and the counter key excluded, so the figures are the bookkeeping alone.
 */
export async function measureRedisMemory(opts: {
  redis: RedisHandle;
  seconds: number;
  connections: number;
  servicePrefix: string[];
  helperPrefix: string[];
  log: (message: string) => void;
}): Promise<RedisMemoryFigures> {
  const { redis } = opts;
  const counterKey = 'memory';
  await redis.client.flushall();
  const service = await startService(
    {
      ...nodeSpec(),
      env: { REDIS_URL: redis.url, COUNTER_KEY: counterKey, WORK_DELAY_MS: '0' },
    },
    opts.servicePrefix,
  );
  try {
    // used_memory moves with client buffers too: take "before" with the workload connected.
    await waitFor('workload connected to Redis', async () => (await fetch(`${service.baseUrl}/readyz`)).ok, {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    const before = await usedMemory(redis);
    opts.log(`redis memory: ${opts.seconds} s of /incr with wrk, WORK_DELAY_MS=0 ...`);
    await runWrk({
      url: `${service.baseUrl}/incr`,
      connections: opts.connections,
      seconds: opts.seconds,
      prefix: opts.helperPrefix,
    });
    await waitFor('pending work done', async () => (await service.pending()) === 0, { timeoutMs: 60_000 });
    const after = await usedMemory(redis);
    const increments = Number((await redis.client.get(counterKey)) ?? 0);
    const { keys, bytes } = await bookkeeping(redis, counterKey);
    const perIncrement = increments === 0 ? 0 : bytes / increments;
    const figures: RedisMemoryFigures = {
      increments,
      bookkeepingKeys: keys,
      bookkeepingBytes: bytes,
      bookkeepingBytesPerIncrement: perIncrement,
      usedMemoryDeltaBytes: after - before,
      usedMemoryBytesPerIncrement: increments === 0 ? 0 : (after - before) / increments,
    };
    opts.log(
      `redis memory: ${increments} increments, ${keys} bookkeeping keys, ${bytes} bytes ` +
        `(${perIncrement.toFixed(3)} B/increment), used_memory +${after - before} bytes`,
    );
    return figures;
  } finally {
    await service.terminate();
  }
}

async function usedMemory(redis: RedisHandle): Promise<number> {
  const info = await redis.client.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? Number.NaN);
}

/** Keys besides the counter and their MEMORY USAGE (exact up to SAMPLE_LIMIT keys, else sampled). */
async function bookkeeping(redis: RedisHandle, counterKey: string): Promise<{ keys: number; bytes: number }> {
  const client = redis.client;
  const keys = (await client.dbsize()) - ((await client.exists(counterKey)) ? 1 : 0);
  if (keys === 0) return { keys, bytes: 0 };
  const sample: string[] = [];
  if (keys <= SAMPLE_LIMIT) {
    let cursor = '0';
    do {
      const [next, found] = await client.scan(cursor, 'COUNT', 1000);
      cursor = next;
      sample.push(...found.filter((key) => key !== counterKey));
    } while (cursor !== '0');
  } else {
    while (sample.length < SAMPLE_LIMIT) {
      const key = await client.randomkey();
      if (key !== null && key !== counterKey) sample.push(key);
    }
  }
  let bytes = 0;
  // SAMPLES 0: every element of a hash or set, not an estimate from the first five.
  for (const key of sample) bytes += Number((await client.memory('USAGE', key, 'SAMPLES', 0)) ?? 0);
  return { keys, bytes: Math.round((bytes / sample.length) * keys) };
}
