import { describe, expect, test } from 'vitest';
import type { Condition } from './api/types.ts';
import { nextRollout, phaseOf, rolloutConditions, rolloutState, setConditions } from './status.ts';

const t0 = '2026-01-01T00:00:00.000Z';
const t1 = '2026-01-01T00:05:00.000Z';

describe('setConditions', () => {
  test('lastTransitionTime changes only when the status flips', () => {
    const first = setConditions(
      undefined,
      [{ type: 'Ready', status: 'False', reason: 'A', message: 'a' }],
      1,
      t0,
    );
    const sameStatus = setConditions(
      first,
      [{ type: 'Ready', status: 'False', reason: 'B', message: 'b' }],
      2,
      t1,
    );
    expect(sameStatus[0]).toEqual({
      type: 'Ready',
      status: 'False',
      reason: 'B',
      message: 'b',
      lastTransitionTime: t0,
      observedGeneration: 2,
    });
    const flipped = setConditions(
      sameStatus,
      [{ type: 'Ready', status: 'True', reason: 'C', message: 'c' }],
      2,
      t1,
    );
    expect(flipped[0]?.lastTransitionTime).toBe(t1);
  });

  test('keeps conditions it was not given and orders them by a fixed order', () => {
    const existing: Condition[] = [
      { type: 'BudgetAccepted', status: 'True', reason: 'X', message: '', lastTransitionTime: t0 },
      { type: 'Custom', status: 'True', reason: 'Y', message: '', lastTransitionTime: t0 },
    ];
    const out = setConditions(existing, [{ type: 'Ready', status: 'True', reason: 'Z', message: '' }], 1, t1);
    expect(out.map((c) => c.type)).toEqual(['Ready', 'BudgetAccepted', 'Custom']);
  });
});

describe('rolloutState', () => {
  const deployment = (status: object, generation = 2, replicas = 2) => ({
    metadata: { generation },
    spec: { replicas },
    status: { observedGeneration: 2, ...status },
  });

  test('complete when every pod is updated and available and no old pods remain', () => {
    const state = rolloutState(
      deployment({ replicas: 2, updatedReplicas: 2, availableReplicas: 2, readyReplicas: 2 }),
    );
    expect(state.complete).toBe(true);
  });

  test.each([
    ['not observed', deployment({ replicas: 2, updatedReplicas: 2, availableReplicas: 2 }, 3), 'waiting'],
    [
      'not all updated',
      deployment({ replicas: 3, updatedReplicas: 1, availableReplicas: 2 }),
      '1 of 2 pods updated',
    ],
    ['old pods left', deployment({ replicas: 3, updatedReplicas: 2, availableReplicas: 2 }), '1 old pods'],
    [
      'not available',
      deployment({ replicas: 2, updatedReplicas: 2, availableReplicas: 1 }),
      '1 of 2 updated',
    ],
  ])('in progress: %s', (_name, d, message) => {
    const state = rolloutState(d);
    expect(state.complete).toBe(false);
    expect(state.message).toContain(message);
  });

  test('ProgressDeadlineExceeded is a stall', () => {
    const state = rolloutState(
      deployment({
        replicas: 2,
        updatedReplicas: 1,
        conditions: [
          { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'too slow' },
        ],
      }),
    );
    expect(state.stalled).toBe(true);
    const conditions = setConditions(undefined, rolloutConditions(state, 2), 1, t0);
    expect(phaseOf(conditions)).toBe('Degraded');
  });
});

describe('phaseOf', () => {
  const conditions = (entries: Record<string, 'True' | 'False'>) =>
    setConditions(
      undefined,
      Object.entries(entries).map(([type, status]) => ({
        type: type as 'Ready',
        status,
        reason: 'R',
        message: '',
      })),
      1,
      t0,
    );

  test.each([
    [{ BudgetAccepted: 'False', Degraded: 'True', Ready: 'True' }, 'Rejected'],
    [{ BudgetAccepted: 'True', Degraded: 'True', Ready: 'True' }, 'Degraded'],
    [{ BudgetAccepted: 'True', Degraded: 'False', Ready: 'True', Progressing: 'False' }, 'Ready'],
    [{ BudgetAccepted: 'True', Degraded: 'False', Ready: 'True', Progressing: 'True' }, 'Progressing'],
    [{ BudgetAccepted: 'True', Degraded: 'False', Ready: 'False', Progressing: 'False' }, 'Pending'],
  ] as const)('%o -> %s', (entries, phase) => {
    expect(phaseOf(conditions(entries))).toBe(phase);
  });

  test('no Deployment status yet: Progressing', () => {
    expect(phaseOf(setConditions(undefined, rolloutConditions(undefined, 1), 1, t0))).toBe('Progressing');
  });
});

describe('nextRollout', () => {
  const deployment = (image: string, status?: object, generation = 1) => ({
    metadata: { generation, creationTimestamp: t0 },
    spec: { replicas: 1, template: { spec: { containers: [{ image }] } } },
    ...(status ? { status: { observedGeneration: generation, ...status } } : {}),
  });
  const done = { replicas: 1, updatedReplicas: 1, availableReplicas: 1, readyReplicas: 1 };

  test('the first rollout starts when the Deployment was created and completes when it is available', () => {
    const started = nextRollout(undefined, deployment('app:v1'), t1);
    expect(started).toEqual({ toImage: 'app:v1', startedAt: t0 });
    expect(nextRollout(started, deployment('app:v1', done), t1)).toEqual({
      toImage: 'app:v1',
      startedAt: t0,
      completedAt: t1,
    });
  });

  test('a new image starts a new rollout from the previous target', () => {
    const previous = { toImage: 'app:v1', startedAt: t0, completedAt: t0 };
    const rolling = nextRollout(previous, deployment('app:v2', { ...done, observedGeneration: 1 }, 2), t1);
    expect(rolling).toEqual({ fromImage: 'app:v1', toImage: 'app:v2', startedAt: t1 });
    // Unchanged while the Deployment controller has not caught up.
    expect(nextRollout(rolling, deployment('app:v2', { ...done, observedGeneration: 1 }, 2), t1)).toEqual(
      rolling,
    );
  });

  test('no Deployment, no rollout change', () => {
    expect(nextRollout(undefined, undefined, t1)).toBeUndefined();
  });
});
