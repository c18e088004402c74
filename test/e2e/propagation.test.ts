/**
 * The preStop sleep under a slow data path (issue 11): the local cluster's service proxy routes
 * 3 s after each EndpointSlice change, as a slow kube-proxy or a cloud load balancer would. With
 * propagation 0 the old pod closes its listener while new connections still reach it: requests
 * must fail (else the delay was never exercised); with the default budget (a 5 s preStop sleep)
 * nothing may fail or be lost. POST: Go's client never re-sends one, so every failure shows.
 * Local cluster only: the delay is the local service proxy's (kind has a real kube-proxy).
 */
import { afterAll, describe, expect, inject, test } from 'vitest';
import { localStateDirOf } from '../../experiment/local-cluster.ts';
import { type Plan, removeInClusterOperator, runPlan } from './plans.ts';

afterAll(removeInClusterOperator);

const local = localStateDirOf(inject('kubeconfig')) !== undefined;

/** 500 requests, the rolling update at 10 s: the old pod is deleted while the load still runs. */
const SLOW_PATH: Plan = {
  rate: 25,
  durationSeconds: 20,
  replicas: 1,
  rollouts: 1,
  mode: 'graceful',
  endpointDelaySeconds: 3,
  method: 'POST',
};

describe.skipIf(!local)('a 3 s endpoint delay', () => {
  test('propagation 0 (no preStop sleep): requests fail, none is lost', async () => {
    const result = await runPlan(
      { ...SLOW_PATH, propagationSeconds: 0 },
      'e2e-delay-propagation-0',
      'e2e: endpoint delay 3 s, propagation 0 (negative control)',
    );
    expect(result.failed).toBeGreaterThan(0);
    expect(result.lost).toBe(0);
    expect(result.counter).toBe(result.ok);
  });

  test('the default budget (5 s preStop sleep): nothing failed, nothing lost', async () => {
    const result = await runPlan(SLOW_PATH, 'e2e-delay-default', 'e2e: endpoint delay 3 s, default budget');
    expect(result.failures).toEqual({});
    expect(result.failed).toBe(0);
    expect(result.lost).toBe(0);
    expect(result.counter).toBe(result.ok);
    expect(result.ok).toBe(result.sent);
    expect(result.drains).toHaveLength(1);
  });
});
