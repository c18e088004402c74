import { expect, test } from 'vitest';
import { waitFor } from '../kube/poll.ts';
import type { Batch } from './counter.ts';
import { PendingIncrements } from './pending.ts';

/** An in-memory model of the counter script: the value and one writer's high-water mark. */
function modelRedis() {
  const state = { value: 0, mark: 0 };
  return {
    state,
    apply({ seq, count }: Batch): boolean {
      if (seq <= state.mark) return false;
      state.value += count;
      state.mark = seq;
      return true;
    },
  };
}

const never = new AbortController().signal;

test('one batch in flight at a time, numbered 1, 2, 3, ...; each carries every increment due', async () => {
  const redis = modelRedis();
  const sent: Batch[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  let release: (() => void) | undefined;
  const pending = new PendingIncrements({
    workDelayMs: 0,
    maxPending: 100,
    apply: async (batch) => {
      sent.push({ ...batch });
      mostInFlight = Math.max(mostInFlight, ++inFlight);
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      inFlight--;
      return redis.apply(batch);
    },
  });
  pending.add();
  await waitFor('the first batch sent', () => sent.length === 1, { timeoutMs: 2000, intervalMs: 1 });
  // Due while batch 1 waits for its reply: they must wait for it, then leave together.
  for (let i = 0; i < 5; i++) pending.add();
  expect(pending.size).toBe(6);
  release?.();
  await waitFor('the second batch sent', () => sent.length === 2, { timeoutMs: 2000, intervalMs: 1 });
  release?.();
  expect(await pending.waitUntilEmpty(never)).toBe(true);
  expect(sent).toEqual([
    { seq: 1, count: 1 },
    { seq: 2, count: 5 },
  ]);
  expect(mostInFlight).toBe(1);
  expect(redis.state).toEqual({ value: 6, mark: 2 });
  expect(pending.completed).toBe(6);
});

test('a batch applied but its reply lost is retried with the same number and count: counted once', async () => {
  const redis = modelRedis();
  const attempts: Batch[] = [];
  const appliedBefore: boolean[] = [];
  const pending = new PendingIncrements({
    workDelayMs: 0,
    maxPending: 100,
    apply: async (batch) => {
      attempts.push({ ...batch });
      const applied = redis.apply(batch);
      if (attempts.length === 1) throw new Error('reply lost');
      return applied;
    },
    observer: { applied: (_batch, before) => appliedBefore.push(before) },
  });
  for (let i = 0; i < 3; i++) pending.add();
  expect(await pending.waitUntilEmpty(never)).toBe(true);
  expect(attempts).toEqual([
    { seq: 1, count: 3 },
    { seq: 1, count: 3 },
  ]);
  expect(appliedBefore).toEqual([true]);
  expect(redis.state.value).toBe(3);
  pending.add();
  expect(await pending.waitUntilEmpty(never)).toBe(true);
  expect(redis.state).toEqual({ value: 4, mark: 2 });
});

test('with Redis down, one loop retries the one batch in flight; later increments wait for it', async () => {
  const redis = modelRedis();
  let down = true;
  let calls = 0;
  const pending = new PendingIncrements({
    workDelayMs: 0,
    maxPending: 100,
    apply: async (batch) => {
      calls++;
      if (down) throw new Error('connection refused');
      return redis.apply(batch);
    },
  });
  pending.add();
  await waitFor('three failed attempts', () => calls >= 3, { timeoutMs: 5000, intervalMs: 1 });
  for (let i = 0; i < 20; i++) pending.add();
  const before = calls;
  await waitFor('two more attempts', () => calls >= before + 2, { timeoutMs: 5000, intervalMs: 1 });
  // 20 more increments did not start 20 more retry loops: attempts go on one at a time.
  expect(calls).toBeLessThan(before + 5);
  down = false;
  expect(await pending.waitUntilEmpty(never)).toBe(true);
  expect(redis.state).toEqual({ value: 21, mark: 2 });
});

test('at the limit nothing more is promised, and room comes back once batches are confirmed', async () => {
  const redis = modelRedis();
  const pending = new PendingIncrements({
    workDelayMs: 20,
    maxPending: 3,
    apply: async (batch) => redis.apply(batch),
  });
  expect([pending.add(), pending.add(), pending.add(), pending.add()]).toEqual([
    'accepted',
    'accepted',
    'accepted',
    'full',
  ]);
  expect(pending.accepted).toBe(3);
  expect(await pending.waitUntilEmpty(never)).toBe(true);
  expect(pending.add()).toBe('accepted');
  expect(await pending.waitUntilEmpty(never)).toBe(true);
  expect(redis.state.value).toBe(4);
});

test('maxPending must be a positive integer', () => {
  const apply = async (): Promise<boolean> => true;
  expect(() => new PendingIncrements({ workDelayMs: 0, maxPending: 0, apply })).toThrow(
    /maxPending=0 is not allowed: expected an integer of at least 1/,
  );
});
