import { expect, test } from 'vitest';
import { Drain, type DrainPhase, type DrainSteps } from './drain.ts';
import { PendingIncrements } from './pending.ts';

/**
 * Steps around a real PendingIncrements whose "Redis" is an in-memory model of the counter script
 * (a value and one writer's high-water mark).
 */
function harness(opts: { workDelayMs: number; failFirst?: number }) {
  const redis = { value: 0, mark: 0 };
  let failures = opts.failFirst ?? 0;
  const pending = new PendingIncrements({
    workDelayMs: opts.workDelayMs,
    maxPending: 1000,
    apply: async ({ seq, count }) => {
      if (failures-- > 0) throw new Error('connection lost');
      if (seq <= redis.mark) return false;
      redis.value += count;
      redis.mark = seq;
      return true;
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
  return { redis, pending, steps, calls };
}

test('drains every pending increment through the phases in order, once', async () => {
  const { redis, pending, steps, calls } = harness({ workDelayMs: 30, failFirst: 2 });
  for (let i = 0; i < 10; i++) pending.add();
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
  expect(redis.value).toBe(10);
  expect(summary).toMatchObject({ pendingAtSignal: 10, completed: 10, abandoned: 0, exitCode: 0 });
  expect(summary?.drainMs).toBeGreaterThanOrEqual(20);
});

test('deadline passed: abandons what is left, cuts connections, exit code 1', async () => {
  const { pending, steps, calls } = harness({ workDelayMs: 10_000 });
  for (let i = 0; i < 4; i++) pending.add();
  const drain = new Drain({ shutdownDelayMs: 0, drainTimeoutMs: 50, steps });
  const summary = await drain.start();
  expect(summary).toMatchObject({ pendingAtSignal: 4, completed: 0, abandoned: 4, exitCode: 1 });
  expect(calls).toEqual(['closeListener', 'closeAllConnections', 'closeRedis']);
  expect(pending.size).toBe(0);
  expect(() => pending.add()).toThrow(/abandoned/);
});

test('from the signal on, only work due by the deadline can be promised', async () => {
  let now = 1000;
  const { steps } = harness({ workDelayMs: 10 });
  const drain = new Drain({ shutdownDelayMs: 0, drainTimeoutMs: 4000, steps, now: () => now });
  // Serving: any work can be promised (the deadline is not known yet).
  expect(drain.canFinishBy(now + 3_600_000)).toBe(true);
  const done = drain.start();
  expect(drain.canFinishBy(1000 + 4000)).toBe(true);
  expect(drain.canFinishBy(1000 + 4001)).toBe(false);
  now = 2000;
  expect(drain.canFinishBy(now + 3000)).toBe(true);
  expect(drain.canFinishBy(now + 3001)).toBe(false);
  await done;
});
