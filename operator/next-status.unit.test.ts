import { describe, expect, it } from 'vitest';
import { applyDefaults, type CounterService } from './api/types.ts';
import { computeBudget } from './budget.ts';
import { firstStatusDelayMs, firstStatusWaitMs, nextStatus, type StatusInput } from './next-status.ts';
import { resolvePolicy } from './policy.ts';
import type { Deployment } from './status.ts';

const now = '2026-12-01T10:00:00.000Z';
const cs = (status?: CounterService['status']): CounterService => ({
  apiVersion: 'lastcall.dev/v1alpha1',
  kind: 'CounterService',
  metadata: { name: 'demo', namespace: 'team-a', uid: 'u', generation: 3 },
  spec: applyDefaults({ image: 'w:v1', redis: { address: 'redis:6379' }, replicas: 2 }),
  ...(status ? { status } : {}),
});
const budget = computeBudget(cs().spec, resolvePolicy([], 'team-a', {})).budget;
const deployment = (status?: Deployment['status'], created = now): Deployment => ({
  metadata: { name: 'demo', namespace: 'team-a', generation: 1, creationTimestamp: created },
  spec: { replicas: 2, template: { spec: { containers: [{ name: 'workload', image: 'w:v1' }] } } },
  ...(status ? { status } : {}),
});
const input = (over: Partial<StatusInput> = {}): StatusInput => ({
  cs: cs(),
  now,
  budget,
  budgetCondition: { type: 'BudgetAccepted', status: 'True', reason: 'WithinBounds', message: 'ok' },
  deployment: deployment({
    observedGeneration: 1,
    replicas: 2,
    readyReplicas: 2,
    updatedReplicas: 2,
    availableReplicas: 2,
  }),
  overrides: [],
  drains: [],
  ...over,
});

describe('nextStatus', () => {
  it('summarises the Deployment: counts, READY column, selector, phase, budget', () => {
    const { status, drainsAdded } = nextStatus(input());
    expect(status).toMatchObject({
      observedGeneration: 3,
      replicas: 2,
      readyReplicas: 2,
      ready: '2/2',
      selector: 'lastcall.dev/counterservice=demo',
      phase: 'Ready',
      budget: { gracePeriodSeconds: 15 },
    });
    expect(drainsAdded).toEqual([]);
  });

  it('lets an override replace the rollout condition of its type, and the phase follows', () => {
    const { status } = nextStatus(
      input({
        overrides: [
          { type: 'Degraded', status: 'True', reason: 'ApplyFailed', message: 'Service demo: port in use' },
        ],
      }),
    );
    expect(status.conditions?.filter((c) => c.type === 'Degraded')).toEqual([
      expect.objectContaining({
        status: 'True',
        reason: 'ApplyFailed',
        message: 'Service demo: port in use',
      }),
    ]);
    expect(status.phase).toBe('Degraded');
  });

  it('is the same for the same input, so an unchanged world compares equal to what is stored', () => {
    const first = nextStatus(input()).status;
    const again = nextStatus(input({ cs: cs(first), now: '2026-12-01T11:00:00.000Z' })).status;
    expect(again).toEqual(first);
  });
});

describe('firstStatusDelayMs', () => {
  const createdMs = Date.parse(now);
  it("waits for a new Deployment's first status, at most firstStatusWaitMs from its creation", () => {
    expect(firstStatusDelayMs(cs(), deployment(), createdMs + 1000)).toBe(firstStatusWaitMs - 1000);
    expect(firstStatusDelayMs(cs(), deployment(), createdMs + firstStatusWaitMs)).toBeUndefined();
  });

  it('does not wait once the Deployment reports, once a status exists, or without a Deployment', () => {
    expect(firstStatusDelayMs(cs(), deployment({ observedGeneration: 1 }), createdMs)).toBeUndefined();
    expect(firstStatusDelayMs(cs({ conditions: [] }), deployment(), createdMs)).toBeUndefined();
    expect(firstStatusDelayMs(cs(), undefined, createdMs)).toBeUndefined();
  });
});
