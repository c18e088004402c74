import { describe, expect, test } from 'vitest';
import type { SweepPoint } from '../../experiment/model.ts';
import { nextSweepRate, summarizeSweep } from '../../experiment/sweep.ts';

const ok = (rate: number): SweepPoint => ({
  rate,
  sent: rate * 20,
  ok: rate * 20,
  failed: 0,
  lost: 0,
  error: null,
});
const lossy = (rate: number, lost = 3): SweepPoint => ({
  rate,
  sent: rate * 20,
  ok: rate * 20,
  failed: 0,
  lost,
  error: null,
});

/** Plays the sweep against a machine that loses from `edge` requests/s up. */
function play(edge: number, startRate: number, maxRate: number): number[] {
  const points: SweepPoint[] = [];
  for (let rate = nextSweepRate(points, { startRate, maxRate }); rate !== null; ) {
    points.push(rate < edge ? ok(rate) : lossy(rate));
    rate = nextSweepRate(points, { startRate, maxRate });
    if (points.length > 20) throw new Error('sweep does not end');
  }
  return points.map((p) => p.rate);
}

describe('sweep', () => {
  test('doubles until a loss, then bisects twice', () => {
    expect(play(300, 25, 1600)).toEqual([25, 50, 100, 200, 400, 300, 250]);
  });

  test('stops at the ceiling when nothing is lost', () => {
    expect(play(10_000, 25, 300)).toEqual([25, 50, 100, 200, 300]);
  });

  test('steps down when even the start rate loses', () => {
    expect(play(10, 25, 1600)).toEqual([25, 13, 7]);
  });

  test('a failed run (error or failed requests) counts as lossy', () => {
    const points = [ok(25), { ...ok(50), failed: 2 }, { ...ok(100), error: 'rollout timed out' }];
    expect(summarizeSweep(points)).toMatchObject({ highestLosslessRate: 25, lowestLossyRate: 50 });
  });
});
