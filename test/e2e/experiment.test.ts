/**
 * The seed experiment and a harder one, run by the experiment runner against
 * the suite's cluster: every increment answered 2xx must be in the counter and
 * no request may fail while the operator rolls the CounterService.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { recentDrainsKept } from '../../operator/drains.ts';
import { HARDER, removeInClusterOperator, runPlan, SEED } from './plans.ts';

afterAll(removeInClusterOperator);

describe('the rollout experiment', () => {
  test('seed: 1000 requests at 25/s with one rolling update: counter exactly 1000, nothing failed', async () => {
    const result = await runPlan(SEED, 'e2e-seed', 'e2e: the seed experiment');

    expect(result.sent).toBe(1000);
    expect(result.failed).toBe(0);
    expect(result.ok).toBe(1000);
    expect(result.counter).toBe(1000);
    expect(result.lost).toBe(0);
    // the rollout happened while the load ran, and the old pod drained cleanly
    const [rollout] = result.rolloutRecords;
    expect(rollout?.completedAt).not.toBeNull();
    expect(result.drainsMissing).toEqual([]);
    expect(result.drains).toHaveLength(1);
    expect(result.drains[0]).toMatchObject({ outcome: 'Clean', abandoned: 0 });
    expect(Number(result.drains[0]?.pendingAtSignal)).toBeGreaterThan(0);
  });

  test('harder: 3 replicas, 75/s, 3 rolling updates: nothing lost, nothing failed', async () => {
    const result = await runPlan(HARDER, 'e2e-harder', 'e2e: 3 replicas, 75/s, 3 rolling updates');

    expect(result.sent).toBe(3000);
    expect(result.failed).toBe(0);
    expect(result.counter).toBe(result.ok);
    expect(result.lost).toBe(0);
    expect(result.rolloutRecords).toHaveLength(3);
    expect(result.rolloutRecords.at(-1)?.completedAt).not.toBeNull();
    // Every pod the rollouts replaced drained cleanly and the operator recorded it. Three rollouts of
    // three replicas replace at most 9 pods, within the 10 records status keeps, so each one must
    // be there: the runner only logs when it times out waiting for them.
    expect(HARDER.replicas * HARDER.rollouts).toBeLessThanOrEqual(recentDrainsKept);
    expect(result.drainsMissing).toEqual([]);
    expect(result.drains.length).toBeGreaterThanOrEqual(HARDER.replicas);
    for (const drain of result.drains) expect(drain).toMatchObject({ outcome: 'Clean', abandoned: 0 });
  });
});
