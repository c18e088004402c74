import { describe, expect, test } from 'vitest';
import type { DrainRecord } from './api/types.ts';
import {
  addDrains,
  DrainLedger,
  drainEvent,
  drainOf,
  type PodLike,
  parseTerminationMessage,
  trimPod,
} from './drains.ts';

const report = {
  mode: 'graceful',
  pendingAtSignal: 3,
  completed: 3,
  abandoned: 0,
  drainMs: 4210,
  exitCode: 0,
};
const message = JSON.stringify(report);

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

describe('parseTerminationMessage', () => {
  test('reads the workload report', () => {
    expect(parseTerminationMessage(message)).toEqual(report);
  });

  test.each([undefined, '', 'not json', '[1,2]', '"text"', '{}', '{"drainMs":-1}'])('ignores %j', (text) => {
    expect(parseTerminationMessage(text)).toBeUndefined();
  });

  test('keeps valid fields and drops wrong types', () => {
    expect(parseTerminationMessage('{"abandoned":"2","completed":1,"extra":true}')).toEqual({ completed: 1 });
  });
});

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

  test('a killed pod is credited with the time the kubelet gave it after the preStop sleep', () => {
    const killed = pod({ exitCode: 137, reason: 'Error', message: '' });
    killed.metadata.deletionGracePeriodSeconds = 15;
    killed.spec = { containers: [{ name: 'counter', lifecycle: { preStop: { sleep: { seconds: 5 } } } }] };
    expect(drainOf(killed)?.record.drainSeconds).toBe(10);
    killed.metadata.deletionGracePeriodSeconds = 3;
    expect(drainOf(killed)?.record.drainSeconds).toBe(2);
  });

  test('exit 137 and OOMKilled are killed; abandoned work is Abandoned', () => {
    expect(drainOf(pod({ exitCode: 137, reason: 'Error', message: '' }))?.record.outcome).toBe('Killed');
    expect(drainOf(pod({ exitCode: 137, reason: 'OOMKilled', message: '' }))?.record.outcome).toBe('Killed');
    expect(drainOf(pod({ exitCode: 1, reason: 'Error', message: '' }))?.record.outcome).toBe('Killed');
    const abandoned = JSON.stringify({ mode: 'graceful', abandoned: 2, drainMs: 8000, exitCode: 0 });
    expect(drainOf(pod({ message: abandoned }))?.record).toMatchObject({
      outcome: 'Abandoned',
      abandoned: 2,
    });
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

  test('counts outcomes, longest drain, abandoned increments and recommends a grace period', () => {
    const { drains, added } = addDrains(
      undefined,
      [
        record('p-01', 'Clean', { drainSeconds: 4.2, abandoned: 0 }),
        record('p-02', 'Killed', { drainSeconds: 10 }),
        record('p-03', 'Abandoned', { drainSeconds: 6, abandoned: 2 }),
      ],
      recommend,
    );
    expect(added).toHaveLength(3);
    expect(drains).toMatchObject({
      observed: 3,
      clean: 1,
      killed: 1,
      abandonedIncrements: 2,
      longestDrainSeconds: 10,
      recommendedGracePeriodSeconds: 18,
    });
    expect(drains.recent?.map((r) => r.pod)).toEqual(['p-03', 'p-02', 'p-01']);
  });

  test('never counts the same pod twice (replayed events, restarts)', () => {
    const first = addDrains(undefined, [record('p-01', 'Clean', { drainSeconds: 1 })], recommend);
    const again = addDrains(first.drains, [record('p-01', 'Clean', { drainSeconds: 1 })], recommend);
    expect(again.added).toEqual([]);
    expect(again.drains).toEqual(first.drains);
    const twiceInOneBatch = addDrains(
      undefined,
      [record('p-02', 'Clean'), record('p-02', 'Clean')],
      recommend,
    );
    expect(twiceInOneBatch.drains.observed).toBe(1);
  });

  test('a pod re-created under the same name (new UID) is a new drain; the same UID counts once', () => {
    const first = addDrains(undefined, [record('p-01', 'Clean', { podUID: 'uid-a' })], recommend);
    // The same pod again (its DELETED event after the final update, or a relist after a restart).
    const replay = addDrains(first.drains, [record('p-01', 'Clean', { podUID: 'uid-a' })], recommend);
    expect(replay.added).toEqual([]);
    expect(replay.drains).toEqual(first.drains);
    // A StatefulSet-like controller or a delete and re-create: same name, new object, new UID.
    const recreated = addDrains(
      first.drains,
      [record('p-01', 'Killed', { podUID: 'uid-b', finishedAt: '2026-01-01T00:01:01Z' })],
      recommend,
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
      recommend,
    );
    expect(batch.drains.observed).toBe(2);
  });

  test('a record stored before podUID existed still dedupes by name', () => {
    const legacy = addDrains(undefined, [record('p-01', 'Clean')], recommend);
    const again = addDrains(legacy.drains, [record('p-01', 'Clean', { podUID: 'uid-a' })], recommend);
    expect(again.added).toEqual([]);
    expect(again.drains.observed).toBe(1);
  });

  test('keeps the last 10, newest first', () => {
    const records = Array.from({ length: 15 }, (_, i) => record(`p-${String(i + 10)}`, 'Clean'));
    const { drains } = addDrains(undefined, records, recommend);
    expect(drains.observed).toBe(15);
    expect(drains.recent).toHaveLength(10);
    expect(drains.recent?.[0]?.pod).toBe('p-24');
  });
});

describe('drainEvent', () => {
  test('Warning DrainKilled, Warning DrainAbandonedWork, Normal Drained', () => {
    expect(drainEvent({ pod: 'p', outcome: 'Killed', exitCode: 137 })).toMatchObject({
      type: 'Warning',
      reason: 'DrainKilled',
    });
    expect(drainEvent({ pod: 'p', outcome: 'Abandoned', abandoned: 1 })).toMatchObject({
      type: 'Warning',
      reason: 'DrainAbandonedWork',
    });
    const clean = drainEvent({ pod: 'p', outcome: 'Clean', exitCode: 0, drainSeconds: 4.2, completed: 3 });
    expect(clean).toMatchObject({ type: 'Normal', reason: 'Drained' });
    expect(clean.message).toContain('drained for 4.2s');
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
