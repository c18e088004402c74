/**
 * Which rate the sweep tries next. Pure: the runner calls it after each run.
 * Doubling from the start rate until a run loses or fails (or the ceiling is
 * reached), then bisecting between the highest lossless and the lowest lossy
 * rate until they are within 10 % (at most `maxBisections` extra runs).
 * A machine this small gives noisy figures near the edge, so the sweep reports
 * the highest rate that was lossless, not a curve fit.
 */
import { lossless, type SweepPoint, type SweepResult } from './model.ts';

interface SweepPlan {
  startRate: number;
  maxRate: number;
  maxBisections?: number;
}

export function nextSweepRate(points: readonly SweepPoint[], plan: SweepPlan): number | null {
  const { highestLosslessRate: good, lowestLossyRate: bad } = summarizeSweep(points);
  const tried = new Set(points.map((p) => p.rate));
  if (points.length === 0) return plan.startRate;
  if (bad === null) {
    // still climbing
    if ((good ?? 0) >= plan.maxRate) return null;
    return Math.min((good ?? plan.startRate) * 2, plan.maxRate);
  }
  if (good === null) {
    // even the start rate lost: step down to find a lossless one
    const lower = roundRate(bad / 2);
    return lower >= 1 && !tried.has(lower) && points.length < 6 ? lower : null;
  }
  const bisections = points.filter((p) => isBisection(p, plan)).length;
  if (bisections >= (plan.maxBisections ?? 2)) return null;
  if (bad - good <= Math.max(5, good * 0.1)) return null;
  const mid = roundRate((good + bad) / 2);
  return mid > good && mid < bad && !tried.has(mid) ? mid : null;
}

/** A run that was not on the doubling ladder start * 2^k. */
function isBisection(point: SweepPoint, plan: SweepPlan): boolean {
  const ratio = point.rate / plan.startRate;
  return point.rate !== plan.maxRate && !(Number.isInteger(Math.log2(ratio)) && ratio >= 1);
}

/** Rates above 20 are rounded to 5 so the report's axis reads cleanly. */
function roundRate(rate: number): number {
  return rate > 20 ? Math.round(rate / 5) * 5 : Math.max(1, Math.round(rate));
}

export function summarizeSweep(points: readonly SweepPoint[]): SweepResult {
  let highestLosslessRate: number | null = null;
  let lowestLossyRate: number | null = null;
  for (const p of points) {
    if (lossless(p)) {
      if (highestLosslessRate === null || p.rate > highestLosslessRate) highestLosslessRate = p.rate;
    } else if (lowestLossyRate === null || p.rate < lowestLossyRate) {
      lowestLossyRate = p.rate;
    }
  }
  return { points: [...points].sort((a, b) => a.rate - b.rate), highestLosslessRate, lowestLossyRate };
}
