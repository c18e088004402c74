import { expect, test } from 'vitest';
import { Drain, type DrainPhase, type DrainSteps } from './drain.ts';
import { PendingIncrements } from './pending.ts';

/** Steps around a real PendingIncrements whose "Redis" is an in-memory set (exactly-once by id). */
function harness(opts: { workDelayMs: number; failFirst?: number }) {
  const applied = new Set<string>();
  let failures = opts.failFirst ?? 0;
  const pending = new PendingIncrements({
    workDelayMs: opts.workDelayMs,
    maxBatch: 3,
    apply: async (ids) => {
      if (failures-- > 0) throw new Error('connection lost');
      let fresh = 0;
      for (const id of ids) if (!applied.has(id)) fresh += applied.add(id) ? 1 : 0;
      return fresh;
    },
  });
  const calls: string[] = [];
  const steps: DrainSteps = {
    closeListener: async () => {
      calls.push('closeListener');
    },
    closeIdleConnections: () => {},
    closeAllConnections: () => calls.push('closeAllConnections'),
    counts: () => ({ pending: pending.size, accepted: pending.accepted, completed: pending.completed }),
    waitForIncrements: (signal) => pending.waitUntilEmpty(signal),
    abandonIncrements: () => pending.abandon(),
    closeRedis: async () => {
      calls.push('closeRedis');
    },
  };
  return { applied, pending, steps, calls };
}

test('drains every pending increment through the phases in order, once', async () => {
  const { applied, pending, steps, calls } = harness({ workDelayMs: 30, failFirst: 2 });
  for (let i = 0; i < 10; i++) pending.add(`id-${i}`);
  const phases: DrainPhase[] = [];
  const drain = new Drain({
    shutdownDelayMs: 20,
    drainTimeoutMs: 5000,
    steps,
    onPhase: (p) => phases.push(p),
  });
  expect(drain.ready).toBe(true);
  const result = drain.start();
  expect(drain.ready).toBe(false);
  expect(drain.closing).toBe(false);
  expect(drain.start()).toBeUndefined();
  const summary = await result;
  expect(phases).toEqual(['delaying', 'closing', 'draining', 'stopped']);
  expect(calls).toEqual(['closeListener', 'closeRedis']);
  expect(applied.size).toBe(10);
  expect(summary).toMatchObject({ pendingAtSignal: 10, completed: 10, abandoned: 0, exitCode: 0 });
  expect(summary?.drainMs).toBeGreaterThanOrEqual(20);
});

test('deadline passed: abandons what is left, cuts connections, exit code 1', async () => {
  const { pending, steps, calls } = harness({ workDelayMs: 10_000 });
  for (let i = 0; i < 4; i++) pending.add(`id-${i}`);
  const drain = new Drain({ shutdownDelayMs: 0, drainTimeoutMs: 50, steps });
  const summary = await drain.start();
  expect(summary).toMatchObject({ pendingAtSignal: 4, completed: 0, abandoned: 4, exitCode: 1 });
  expect(calls).toEqual(['closeListener', 'closeAllConnections', 'closeRedis']);
  expect(pending.size).toBe(0);
  expect(() => pending.add('late')).toThrow(/abandoned/);
});

test('pending increments leave in due order, batched, and a retried batch is not counted twice', async () => {
  const seen: string[][] = [];
  const applied = new Set<string>();
  let calls = 0;
  const pending = new PendingIncrements({
    workDelayMs: 5,
    maxBatch: 2,
    apply: async (ids) => {
      seen.push([...ids]);
      for (const id of ids) applied.add(id);
      // The first call is applied but "its reply is lost".
      if (calls++ === 0) throw new Error('reply lost');
      return ids.length;
    },
  });
  for (const id of ['a', 'b', 'c']) pending.add(id);
  expect(await pending.waitUntilEmpty(new AbortController().signal)).toBe(true);
  expect(seen[0]).toEqual(['a', 'b']);
  expect(seen.flat()).toEqual(expect.arrayContaining(['a', 'b', 'c']));
  expect(pending.completed).toBe(3);
  expect(applied.size).toBe(3);
});
