// The exactly-once script against a real redis-server: the cases a live workload can only hit by
// chance (a stale copy of an older batch arriving after a newer one), restarts, and the bounded
// bookkeeping (one record per writer, however many increments).
import { randomUUID } from 'node:crypto';
import { expect, test } from 'vitest';
import {
  Counter,
  RETIRED_WRITER_TTL_MS,
  WRITER_RECORD_TTL_MS,
  writerRecordKey,
} from '../../workload/counter.ts';
import { useFileRedis } from './file-redis.ts';

const redis = useFileRedis();

test('a batch counts once however often it arrives, and an older batch after a newer one adds nothing', async () => {
  const counter = new Counter(redis.client, 'stale', randomUUID());
  expect(await counter.apply({ seq: 1, count: 5 })).toBe(true);
  expect(await counter.apply({ seq: 1, count: 5 })).toBe(false); // re-sent after a lost reply
  expect(await counter.apply({ seq: 2, count: 7 })).toBe(true);
  expect(await counter.apply({ seq: 1, count: 5 })).toBe(false); // a stale copy, late
  expect(await counter.apply({ seq: 2, count: 7 })).toBe(false);
  expect(await counter.read()).toBe(12);
});

test('writers are independent, and a restarted process (a new writer) starts at batch 1 again', async () => {
  const first = new Counter(redis.client, 'writers', randomUUID());
  const second = new Counter(redis.client, 'writers', randomUUID());
  expect(await first.apply({ seq: 1, count: 3 })).toBe(true);
  expect(await first.apply({ seq: 2, count: 3 })).toBe(true);
  expect(await second.apply({ seq: 1, count: 4 })).toBe(true);
  const restarted = new Counter(redis.client, 'writers', randomUUID());
  expect(await restarted.apply({ seq: 1, count: 10 })).toBe(true);
  expect(await first.read()).toBe(20);
});

test('bookkeeping is one record per writer, whatever the number of increments, and expires', async () => {
  const writerId = randomUUID();
  const counter = new Counter(redis.client, 'bounded', writerId);
  for (let seq = 1; seq <= 1000; seq++) await counter.apply({ seq, count: 1000 });
  expect(await counter.read()).toBe(1_000_000);
  const keys = await redis.client.keys('{bounded}*');
  expect(keys).toEqual([writerRecordKey('bounded', writerId)]);
  const record = keys[0] as string;
  expect(await redis.client.get(record)).toBe('1000');
  expect(Number(await redis.client.memory('USAGE', record))).toBeLessThan(200);
  // Refreshed by every batch; shortened once the writer is done.
  expect(await redis.client.pttl(record)).toBeGreaterThan(WRITER_RECORD_TTL_MS - 60_000);
  await counter.retire();
  const retired = await redis.client.pttl(record);
  expect(retired).toBeGreaterThan(0);
  expect(retired).toBeLessThanOrEqual(RETIRED_WRITER_TTL_MS);
});

test('a Redis that forgot the script (restart, SCRIPT FLUSH) gets its text again', async () => {
  const counter = new Counter(redis.client, 'noscript', randomUUID());
  expect(await counter.apply({ seq: 1, count: 2 })).toBe(true);
  await redis.client.script('FLUSH');
  expect(await counter.apply({ seq: 2, count: 2 })).toBe(true);
  expect(await counter.apply({ seq: 2, count: 2 })).toBe(false);
  expect(await counter.read()).toBe(4);
});
