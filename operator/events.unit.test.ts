import { describe, expect, it } from 'vitest';
import { coreTypes } from '../kube/resources.ts';
import type { Condition, CounterServiceStatus, DrainRecord } from './api/types.ts';
import { applyEvents, statusEvents } from './events.ts';

const at = '2026-12-01T10:00:00Z';
const condition = (type: string, status: string, reason: string, message = reason): Condition =>
  ({ type, status, reason, message, lastTransitionTime: at }) as Condition;
const status = (...conditions: Condition[]): CounterServiceStatus => ({ conditions });

describe('statusEvents', () => {
  it('raises nothing when nothing the user must hear about changed', () => {
    const same = status(condition('Degraded', 'True', 'NameConflict', 'Service a/b exists'));
    expect(statusEvents(same, same, [])).toEqual([]);
    expect(statusEvents({}, status(condition('Degraded', 'False', 'AsExpected')), [])).toEqual([]);
  });

  it('raises BudgetRejected when a refusal starts or its message changes, not while it stays', () => {
    const refused = (message: string) =>
      status(condition('BudgetAccepted', 'False', 'GracePeriodOutOfBounds', message));
    expect(statusEvents({}, refused('too long'), [])).toEqual([
      { type: 'Warning', reason: 'BudgetRejected', message: 'too long' },
    ]);
    expect(statusEvents(refused('too long'), refused('too long'), [])).toEqual([]);
    expect(statusEvents(refused('too long'), refused('too short'), [])).toEqual([
      { type: 'Warning', reason: 'BudgetRejected', message: 'too short' },
    ]);
  });

  it('raises the Degraded reasons the operator sets (NameConflict, ApplyFailed) with their message', () => {
    const before = status(condition('Degraded', 'False', 'AsExpected'));
    for (const reason of ['NameConflict', 'ApplyFailed']) {
      const after = status(condition('Degraded', 'True', reason, `${reason}: Service a/b`));
      expect(statusEvents(before, after, [])).toEqual([
        { type: 'Warning', reason, message: `${reason}: Service a/b` },
      ]);
    }
    // A stalled rollout is the Deployment controller's news, reported on the Deployment.
    const stalled = status(condition('Degraded', 'True', 'ProgressDeadlineExceeded'));
    expect(statusEvents(before, stalled, [])).toEqual([]);
  });

  it('raises RolloutComplete once, when the rollout gets its completion time', () => {
    const rolling = { lastRollout: { fromImage: 'w:v1', toImage: 'w:v2', startedAt: at } };
    const done = { lastRollout: { ...rolling.lastRollout, completedAt: at } };
    expect(statusEvents(rolling, done, [])).toEqual([
      { type: 'Normal', reason: 'RolloutComplete', message: 'rollout from w:v1 to w:v2 complete' },
    ]);
    expect(statusEvents(done, done, [])).toEqual([]);
  });

  it('raises one event per drain added', () => {
    const drains: DrainRecord[] = [
      { pod: 'p1', outcome: 'Clean', exitCode: 0, drainSeconds: 1 },
      { pod: 'p2', outcome: 'Killed', exitCode: 137, drainSeconds: 13 },
    ] as DrainRecord[];
    expect(statusEvents({}, {}, drains).map((e) => `${e.type} ${e.reason}`)).toEqual([
      'Normal Drained',
      'Warning DrainKilled',
    ]);
  });
});

describe('applyEvents', () => {
  const object = (name: string, grace?: number, image?: string) => ({
    metadata: { name },
    spec: {
      replicas: 1,
      template: { spec: { terminationGracePeriodSeconds: grace, containers: [{ name: 'w', image }] } },
    },
  });

  it('groups the objects by kind of change, one event each', () => {
    expect(
      applyEvents([
        {
          type: coreTypes.deployment,
          before: object('d', 15, 'w:v1'),
          after: object('d', 20, 'w:v2'),
          drifted: false,
        },
        { type: coreTypes.service, before: undefined, after: object('s'), drifted: false },
        { type: coreTypes.podDisruptionBudget, before: object('p'), after: object('p'), drifted: true },
      ]),
    ).toEqual([
      { type: 'Normal', reason: 'Created', message: 'created Service s' },
      {
        type: 'Normal',
        reason: 'Updated',
        message: 'updated Deployment d (grace period 15s -> 20s, image w:v1 -> w:v2)',
      },
      {
        type: 'Normal',
        reason: 'DriftCorrected',
        message: 'put back hand-edited fields of PodDisruptionBudget p',
      },
    ]);
    expect(applyEvents([])).toEqual([]);
  });
});
