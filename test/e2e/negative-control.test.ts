/**
 * The negative control: the same rolling update with CounterService
 * spec.drain.mode Hard (no preStop, the workload exits at SIGTERM). It must
 * lose increments; if it ever loses none, the experiment cannot tell a
 * graceful drain from none and the other results mean nothing.
 */
import { afterAll, expect, test } from 'vitest';
import { CONTROL, removeInClusterOperator, runPlan } from './plans.ts';

afterAll(removeInClusterOperator);

test('hard mode loses increments answered 2xx during a rolling update', async () => {
  const result = await runPlan(CONTROL, 'e2e-control', 'e2e: the negative control (hard mode)');

  expect(result.sent).toBe(CONTROL.rate * CONTROL.durationSeconds);
  expect(result.lost).toBeGreaterThan(0);
  expect(result.counter).toBeLessThan(result.ok);
  // the operator saw the loss too: the old pod exited at SIGTERM without draining (Hard, not
  // Killed: no grace period would have saved it) and reported what it abandoned
  expect(result.drainsMissing).toEqual([]);
  expect(result.drains.map((d) => d.outcome)).toEqual(['Hard']);
  expect(Number(result.drains[0]?.abandoned)).toBeGreaterThan(0);
});
