import { describe, expect, test } from 'vitest';
import {
  crashReport,
  EXIT_CODES,
  formatTerminationReport,
  gracefulDrainReport,
  hardExitReport,
  SIGKILL_EXIT_CODE,
  type TerminationReport,
} from '../contracts/drain-report.ts';
import { applyDefaults, type DrainRecord } from './api/types.ts';
import { computeBudget, recommendGracePeriodFor } from './budget.ts';
import { addDrains, DrainLedger, drainEvent, drainOf, type PodLike, trimPod } from './drains.ts';
import { resolvePolicy } from './policy.ts';

// Every report here is built by the contract's constructors, the ones the workload uses, so no
// fixture describes an ending the workload never writes.
const clean = gracefulDrainReport({
  finished: true,
  pendingAtSignal: 3,
  completed: 3,
  abandoned: 0,
  drainMs: 4210,
  acceptedDuringDrain: 0,
});
const message = formatTerminationReport(clean);

/** A deleted pod of the CounterService `counter` whose container ended as `report` says. */
function podEndingWith(report: TerminationReport, overrides: { uid?: string; name?: string } = {}): PodLike {
  return pod({ exitCode: report.exitCode, message: formatTerminationReport(report), ...overrides });
}

function pod(
  overrides: {
    exitCode?: number;
    reason?: string;
    message?: string;
    deleting?: boolean;
    running?: boolean;
    name?: string;
    uid?: string;
  } = {},
): PodLike {
  return {
    metadata: {
      name: overrides.name ?? 'counter-abc-1',
      namespace: 'demo',
      uid: overrides.uid ?? 'uid-1',
      labels: { 'lastcall.dev/counterservice': 'counter' },
      ...(overrides.deleting === false ? {} : { deletionTimestamp: '2026-01-01T00:00:15Z' }),
    },
    status: {
      containerStatuses: [
        {
          name: 'counter',
          state: overrides.running
            ? {}
            : {
                terminated: {
                  exitCode: overrides.exitCode ?? 0,
                  reason: overrides.reason ?? 'Completed',
                  message: overrides.message ?? message,
                  finishedAt: '2026-01-01T00:00:10Z',
                },
              },
        },
      ],
    },
  };
}

/** A pod killed by the kubelet: SIGKILL, no report, its own grace period and preStop sleep. */
function killedPod(grace: number, preStop: number, deletionGracePeriodSeconds: number): PodLike {
  const killed = pod({ exitCode: SIGKILL_EXIT_CODE, reason: 'Error', message: '' });
  killed.metadata.deletionGracePeriodSeconds = deletionGracePeriodSeconds;
  killed.spec = {
    terminationGracePeriodSeconds: grace,
    containers: [{ name: 'counter', lifecycle: { preStop: { sleep: { seconds: preStop } } } }],
  };
  return killed;
}

describe('trimPod', () => {
  test('keeps what drain observation reads', () => {
    const full = pod({ exitCode: 137, reason: 'Error', message: '' });
    full.metadata.deletionGracePeriodSeconds = 15;
    full.metadata.managedFields = [{ manager: 'kubelet' }];
    full.spec = { containers: [{ name: 'counter', lifecycle: { preStop: { sleep: { seconds: 5 } } } }] };
    const trimmed = trimPod(full);
    expect(trimmed.metadata.managedFields).toBeUndefined();
    expect(drainOf(trimmed)).toEqual(drainOf(full));
  });
});

describe('drainOf', () => {
  test('a deleted pod whose containers terminated is a clean drain', () => {
    expect(drainOf(pod())).toEqual({
      key: 'demo/counter',
      record: {
        pod: 'counter-abc-1',
        podUID: 'uid-1',
        outcome: 'Clean',
        exitCode: 0,
        reason: 'Completed',
        finishedAt: '2026-01-01T00:00:10Z',
        drainSeconds: 4.21,
        pendingAtSignal: 3,
        completed: 3,
        abandoned: 0,
      },
    });
  });

  test('a killed pod is credited with the grace in force after the preStop sleep, whatever the final DELETE set', () => {
    // The kubelet's final DELETE (grace 0, once the containers stopped) leaves
    // deletionGracePeriodSeconds at 0 on the pod's last events: the pod's own grace period is
    // what the kubelet counted.
    expect(drainOf(killedPod(15, 5, 15))?.record.drainSeconds).toBe(10);
    expect(drainOf(killedPod(15, 5, 0))?.record.drainSeconds).toBe(10);
    // The kubelet always grants at least 2 s after the preStop hook.
    expect(drainOf(killedPod(6, 5, 0))?.record.drainSeconds).toBe(2);
  });

  test('each ending the workload writes is classified by its exit code and report', () => {
    const deadline = gracefulDrainReport({
      finished: false,
      pendingAtSignal: 5,
      completed: 3,
      abandoned: 2,
      drainMs: 8000,
      acceptedDuringDrain: 0,
    });
    expect(drainOf(podEndingWith(deadline))?.record).toMatchObject({
      outcome: 'Abandoned',
      exitCode: EXIT_CODES.deadlinePassed,
      abandoned: 2,
      drainSeconds: 8,
    });
    expect(drainOf(podEndingWith(hardExitReport(40, 'SIGTERM')))?.record).toMatchObject({
      outcome: 'Hard',
      exitCode: EXIT_CODES.hardSigterm,
      pendingAtSignal: 40,
      abandoned: 40,
    });
    const crash = crashReport({
      mode: 'graceful',
      kind: 'unhandledRejection',
      reason: 'Error: boom',
      pending: 7,
      draining: true,
    });
    expect(drainOf(podEndingWith(crash))?.record).toMatchObject({
      outcome: 'Crashed',
      exitCode: EXIT_CODES.crashed,
      pendingAtSignal: 7,
      abandoned: 7,
      crash: 'unhandledRejection: Error: boom',
    });
  });

  test('without a report: SIGKILL and OOM are Killed, death by SIGTERM is Hard, other failures Crashed', () => {
    const ended = (exitCode: number, reason = 'Error') =>
      drainOf(pod({ exitCode, reason, message: '' }))?.record.outcome;
    expect(ended(137)).toBe('Killed');
    expect(ended(137, 'OOMKilled')).toBe('Killed');
    expect(ended(143)).toBe('Hard');
    // Node's own exit 1 (an error before the crash handler ran), a segfault: no drain report.
    expect(ended(1)).toBe('Crashed');
    expect(ended(139)).toBe('Crashed');
    expect(ended(0, 'Completed')).toBe('Clean');
  });

  test('not a drain: still running, not being deleted (a crash), or not a CounterService pod', () => {
    expect(drainOf(pod({ running: true }))).toBeUndefined();
    expect(drainOf(pod({ deleting: false }))).toBeUndefined();
    const foreign = pod();
    foreign.metadata.labels = {};
    expect(drainOf(foreign)).toBeUndefined();
  });
});

describe('addDrains', () => {
  const record = (
    name: string,
    outcome: DrainRecord['outcome'],
    extra: Partial<DrainRecord> = {},
  ): DrainRecord => ({
    pod: name,
    outcome,
    finishedAt: `2026-01-01T00:00:${name.slice(-2)}Z`,
    ...extra,
  });
  const recommend = (longest: number) => Math.ceil(5 + longest + 3);
  const options = { recommend };

  test('counts outcomes, longest drain, abandoned increments and recommends a grace period', () => {
    const { drains, added } = addDrains(
      undefined,
      [
        record('p-01', 'Clean', { drainSeconds: 4.2, abandoned: 0 }),
        record('p-02', 'Killed', { drainSeconds: 10 }),
        record('p-03', 'Abandoned', { drainSeconds: 6, abandoned: 2 }),
        record('p-04', 'Hard', { drainSeconds: 0, abandoned: 40 }),
        record('p-05', 'Crashed', { abandoned: 1 }),
      ],
      options,
    );
    expect(added).toHaveLength(5);
    expect(drains).toMatchObject({
      observed: 5,
      clean: 1,
      killed: 1,
      abandoned: 1,
      hard: 1,
      crashed: 1,
      abandonedIncrements: 43,
      longestDrainSeconds: 10,
      recommendedGracePeriodSeconds: 18,
    });
    expect(drains.recent?.map((r) => r.pod)).toEqual(['p-05', 'p-04', 'p-03', 'p-02', 'p-01']);
  });

  test('Hard and Crashed drains say nothing about the time a drain needs: no longest, no recommendation', () => {
    const { drains } = addDrains(
      undefined,
      [record('p-01', 'Hard', { drainSeconds: 0 }), record('p-02', 'Crashed', { drainSeconds: 0.3 })],
      options,
    );
    expect(drains.longestDrainSeconds).toBeUndefined();
    expect(drains.recommendedGracePeriodSeconds).toBeUndefined();
  });

  test('never counts the same pod twice (replayed events, restarts)', () => {
    const first = addDrains(undefined, [record('p-01', 'Clean', { drainSeconds: 1 })], options);
    const again = addDrains(first.drains, [record('p-01', 'Clean', { drainSeconds: 1 })], options);
    expect(again.added).toEqual([]);
    expect(again.drains).toEqual(first.drains);
    const twiceInOneBatch = addDrains(undefined, [record('p-02', 'Clean'), record('p-02', 'Clean')], options);
    expect(twiceInOneBatch.drains.observed).toBe(1);
  });

  test('never counts a pod twice however many drain at once (more than status keeps in recent)', () => {
    const many = Array.from({ length: 25 }, (_, i) =>
      record(`p-${String(i + 10)}`, 'Clean', { podUID: `uid-${i}` }),
    );
    const first = addDrains(undefined, many, options);
    expect(first.drains.observed).toBe(25);
    expect(first.drains.recent).toHaveLength(10);
    // Every pod seen again, e.g. each one's DELETED event after its final status update.
    const replay = addDrains(first.drains, many, options);
    expect(replay.added).toEqual([]);
    expect(replay.drains.observed).toBe(25);
  });

  test('remembers the counted pods only while they exist, pruned when a drain is added', () => {
    const existing = new Set(['uid-a', 'uid-b']);
    const podExists = (uid: string) => existing.has(uid);
    const first = addDrains(
      undefined,
      [record('p-01', 'Clean', { podUID: 'uid-a' }), record('p-02', 'Clean', { podUID: 'uid-b' })],
      { recommend, podExists },
    );
    expect(first.drains.countedPods).toEqual(['uid-a', 'uid-b']);
    // uid-a is gone: its DELETED replay is still recognised, and nothing is written for it alone.
    existing.delete('uid-a');
    const replay = addDrains(first.drains, [record('p-01', 'Clean', { podUID: 'uid-a' })], {
      recommend,
      podExists,
    });
    expect(replay.added).toEqual([]);
    expect(replay.drains).toEqual(first.drains);
    // The next drain prunes it.
    existing.add('uid-c');
    const next = addDrains(first.drains, [record('p-03', 'Clean', { podUID: 'uid-c' })], {
      recommend,
      podExists,
    });
    expect(next.drains.countedPods).toEqual(['uid-b', 'uid-c']);
  });

  test('a pod re-created under the same name (new UID) is a new drain; the same UID counts once', () => {
    const first = addDrains(undefined, [record('p-01', 'Clean', { podUID: 'uid-a' })], options);
    // The same pod again (its DELETED event after the final update, or a relist after a restart).
    const replay = addDrains(first.drains, [record('p-01', 'Clean', { podUID: 'uid-a' })], options);
    expect(replay.added).toEqual([]);
    expect(replay.drains).toEqual(first.drains);
    // A StatefulSet-like controller or a delete and re-create: same name, new object, new UID.
    const recreated = addDrains(
      first.drains,
      [record('p-01', 'Killed', { podUID: 'uid-b', finishedAt: '2026-01-01T00:01:01Z' })],
      options,
    );
    expect(recreated.added).toHaveLength(1);
    expect(recreated.drains).toMatchObject({ observed: 2, clean: 1, killed: 1 });
    expect(recreated.drains.recent?.map((r) => r.podUID)).toEqual(['uid-b', 'uid-a']);
    // Both incarnations in one batch count separately, each once.
    const batch = addDrains(
      undefined,
      [
        record('p-01', 'Clean', { podUID: 'uid-a' }),
        record('p-01', 'Clean', { podUID: 'uid-b' }),
        record('p-01', 'Clean', { podUID: 'uid-a' }),
      ],
      options,
    );
    expect(batch.drains.observed).toBe(2);
  });

  test('a record stored before podUID existed still dedupes by name', () => {
    const legacy = addDrains(undefined, [record('p-01', 'Clean')], options);
    const again = addDrains(legacy.drains, [record('p-01', 'Clean', { podUID: 'uid-a' })], options);
    expect(again.added).toEqual([]);
    expect(again.drains.observed).toBe(1);
  });

  test('keeps the last 10, newest first', () => {
    const records = Array.from({ length: 15 }, (_, i) => record(`p-${String(i + 10)}`, 'Clean'));
    const { drains } = addDrains(undefined, records, options);
    expect(drains.observed).toBe(15);
    expect(drains.recent).toHaveLength(10);
    expect(drains.recent?.[0]?.pod).toBe('p-24');
  });
});

describe('the recommendation, from a pod to status', () => {
  const budgetOf = (spec: Record<string, unknown>) =>
    computeBudget(
      applyDefaults({ image: 'lastcall/workload:v1', redis: { address: 'redis:6379' }, ...spec }),
      resolvePolicy([], 'demo', {}),
    ).budget;

  test('a killed pod never brings the recommendation below the grace in force', () => {
    const budget = budgetOf({});
    const killed = drainOf(killedPod(budget.gracePeriodSeconds, budget.preStopSleepSeconds, 0));
    if (!killed) throw new Error('no drain');
    const { drains } = addDrains(undefined, [killed.record], {
      recommend: (longest) => recommendGracePeriodFor(budget, longest),
    });
    expect(drains.recommendedGracePeriodSeconds).toBeGreaterThan(budget.gracePeriodSeconds);
  });

  test('Hard mode: never below the grace in force, even after graceful drains recorded earlier', () => {
    const graceful = addDrains(undefined, [drainOf(pod())?.record as DrainRecord], {
      recommend: (longest) => recommendGracePeriodFor(budgetOf({}), longest),
    });
    const hard = budgetOf({ drain: { mode: 'Hard' } });
    const hardPod = podEndingWith(hardExitReport(125, 'SIGTERM'), { uid: 'uid-2', name: 'counter-abc-2' });
    const { drains } = addDrains(graceful.drains, [drainOf(hardPod)?.record as DrainRecord], {
      recommend: (longest) => recommendGracePeriodFor(hard, longest),
    });
    expect(drains.hard).toBe(1);
    expect(drains.recommendedGracePeriodSeconds).toBeGreaterThanOrEqual(hard.gracePeriodSeconds);
  });
});

describe('drainEvent', () => {
  test('only a killed drain suggests a longer grace period', () => {
    const killed = drainEvent({ pod: 'p', outcome: 'Killed', exitCode: 137 });
    expect(killed).toMatchObject({ type: 'Warning', reason: 'DrainKilled' });
    expect(killed.message).toMatch(/longer grace period/);
    const others = [
      drainEvent({ pod: 'p', outcome: 'Abandoned', exitCode: 1, abandoned: 1 }),
      drainEvent({ pod: 'p', outcome: 'Hard', exitCode: 143, abandoned: 125 }),
      drainEvent({ pod: 'p', outcome: 'Crashed', exitCode: 70, crash: 'uncaughtException: Error: boom' }),
      drainEvent({ pod: 'p', outcome: 'Clean', exitCode: 0, drainSeconds: 4.2, completed: 3 }),
    ];
    expect(others.map((e) => [e.type, e.reason])).toEqual([
      ['Warning', 'DrainAbandonedWork'],
      ['Warning', 'HardExit'],
      ['Warning', 'DrainCrashed'],
      ['Normal', 'Drained'],
    ]);
    for (const event of others) expect(event.message).not.toMatch(/grace period/);
    expect(others[2]?.message).toContain('uncaughtException: Error: boom');
    expect(others[3]?.message).toContain('drained for 4.2s');
  });
});

describe('DrainLedger', () => {
  test('holds drains until settled, once per pod', () => {
    const ledger = new DrainLedger();
    expect(ledger.observe({ type: 'updated', object: pod(), old: pod({ running: true }) })).toBe(
      'demo/counter',
    );
    expect(ledger.observe({ type: 'deleted', object: pod() })).toBe('demo/counter');
    expect(ledger.observe({ type: 'added', object: pod({ running: true }) })).toBeUndefined();
    const pending = ledger.pending('demo/counter');
    expect(pending).toHaveLength(1);
    ledger.settle('demo/counter', pending);
    expect(ledger.pending('demo/counter')).toEqual([]);
  });

  test('knows which pods exist from the changes it is fed', () => {
    const ledger = new DrainLedger();
    ledger.observe({ type: 'added', object: pod({ running: true, uid: 'uid-7' }) });
    expect(ledger.podExists('uid-7')).toBe(true);
    ledger.observe({ type: 'deleted', object: pod({ uid: 'uid-7' }) });
    expect(ledger.podExists('uid-7')).toBe(false);
  });

  test('keeps a re-created pod of the same name apart from the old one', () => {
    const ledger = new DrainLedger();
    ledger.observe({ type: 'deleted', object: pod({ uid: 'uid-1' }) });
    ledger.observe({ type: 'deleted', object: pod({ uid: 'uid-2', exitCode: 137, message: '' }) });
    ledger.observe({ type: 'deleted', object: pod({ uid: 'uid-1' }) });
    const pending = ledger.pending('demo/counter');
    expect(pending.map((r) => [r.pod, r.podUID, r.outcome])).toEqual([
      ['counter-abc-1', 'uid-1', 'Clean'],
      ['counter-abc-1', 'uid-2', 'Killed'],
    ]);
    // Settling the first incarnation leaves the second pending.
    ledger.settle('demo/counter', [pending[0] as DrainRecord]);
    expect(ledger.pending('demo/counter').map((r) => r.podUID)).toEqual(['uid-2']);
  });
});
