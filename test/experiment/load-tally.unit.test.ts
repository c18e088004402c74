import { describe, expect, test } from 'vitest';
import { failureCause, LoadTally, perSecondSince } from '../../experiment/load-tally.ts';

const spawnedAt = Date.parse('2026-12-01T10:00:00.000Z');

/** A vegeta result for request `seq`, sent `ms` after the spawn. */
function result(seq: number, ms: number, code = 200, error = '') {
  return { seq, code, timestamp: new Date(spawnedAt + ms).toISOString(), latency: 2e6, error };
}

describe('LoadTally', () => {
  test('counts seconds from the first request sent, not from the spawn', () => {
    const tally = new LoadTally(spawnedAt);
    // vegeta took 2.7 s to start; then 3 requests per second for 2 s
    for (let seq = 0; seq < 6; seq++) tally.add(result(seq, 2700 + seq * 334));
    const totals = tally.snapshot();
    expect(totals.firstSentAt).toBe(spawnedAt + 2700);
    expect(totals.lastSentAt).toBe(spawnedAt + 2700 + 5 * 334);
    expect(totals.perSecond.map((s) => s.sent)).toEqual([3, 3]);
    expect(totals).toMatchObject({ sent: 6, ok: 6, failed: 0 });
  });

  test('results that complete before the first request wait for its time, then land in their own second', () => {
    const tally = new LoadTally(spawnedAt);
    // seq 0 hangs for a while; later requests (in seconds 0 and 1 of the load) answer first
    tally.add(result(2, 1600));
    tally.add(result(1, 900, 503));
    expect(tally.snapshot()).toMatchObject({ sent: 2, ok: 1, failed: 1, perSecond: [], firstSentAt: null });
    tally.add(result(0, 500));
    expect(tally.snapshot().perSecond).toEqual([
      { sent: 2, ok: 1, failed: 1 },
      { sent: 1, ok: 1, failed: 0 },
    ]);
    tally.add(result(3, 2499));
    tally.add(result(4, 2500));
    expect(tally.snapshot().perSecond.map((s) => s.sent)).toEqual([2, 2, 1]);
  });

  test('failures are counted by cause, and the slowest answer is kept', () => {
    const tally = new LoadTally(spawnedAt);
    tally.add({ ...result(0, 0, 503), latency: 7.5e6 });
    tally.add(
      result(1, 10, 0, 'Get "http://127.0.0.1:1/incr": dial tcp 127.0.0.1:1: connect: connection refused'),
    );
    tally.add(
      result(2, 20, 0, 'Get "http://127.0.0.1:1/incr": dial tcp 127.0.0.1:1: connect: connection refused'),
    );
    expect(tally.snapshot()).toMatchObject({
      failed: 3,
      failures: { 'HTTP 503': 1, 'connection refused': 2 },
      maxLatencyMs: 7.5,
    });
  });

  test('a load interrupted before the first request answered starts from the earliest request seen', () => {
    const tally = new LoadTally(spawnedAt);
    tally.add(result(3, 1900));
    tally.add(result(2, 1200));
    tally.finish(spawnedAt + 5000);
    expect(tally.snapshot()).toMatchObject({
      firstSentAt: spawnedAt + 1200,
      finishedAt: spawnedAt + 5000,
      perSecond: [{ sent: 2, ok: 2, failed: 0 }],
    });
  });

  test('the hit that found no target left is no request: not counted', () => {
    const tally = new LoadTally(spawnedAt);
    tally.add(result(0, 100));
    tally.add(result(1, 200, 0, 'no targets to attack'));
    tally.add(result(2, 200, 0, 'no targets to attack'));
    expect(tally.snapshot()).toMatchObject({
      sent: 1,
      ok: 1,
      failed: 0,
      failures: {},
      lastSentAt: spawnedAt + 100,
    });
  });

  test('a snapshot is a copy', () => {
    const tally = new LoadTally(spawnedAt);
    tally.add(result(0, 0));
    const before = tally.snapshot();
    tally.add(result(1, 10));
    expect(before.sent).toBe(1);
    expect(before.perSecond[0]?.sent).toBe(1);
  });
});

test('perSecondSince puts the load on the experiment clock: seconds before the first request are empty', () => {
  const tally = new LoadTally(spawnedAt);
  tally.add(result(0, 2600));
  tally.add(result(1, 3700));
  const totals = tally.snapshot();
  expect(perSecondSince(spawnedAt, totals).map((s) => s.sent)).toEqual([0, 0, 0, 1, 1]);
  expect(perSecondSince(spawnedAt + 2600, totals).map((s) => s.sent)).toEqual([1, 1]);
  expect(perSecondSince(spawnedAt, new LoadTally(spawnedAt).snapshot())).toEqual([]);
});

test('failureCause names the last clause of a transport error', () => {
  expect(failureCause({ code: 0, error: 'Get "x": dial tcp: connect: connection reset by peer' })).toBe(
    'connection reset by peer',
  );
  expect(failureCause({ code: 0, error: '' })).toBe('no answer');
  expect(failureCause({ code: 502, error: '' })).toBe('HTTP 502');
});
