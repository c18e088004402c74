/**
 * Pure arithmetic of the soak run: least-squares slopes of the memory lines after warm-up,
 * per-probe aggregation of the workload pods, counter resets in Prometheus counters.
 */

export interface Point {
  /** seconds since the load started */
  t: number;
  value: number;
}

export interface Slope {
  /** units of `value` per hour */
  perHour: number;
  /** the mean of the points used */
  mean: number;
  /** perHour relative to the mean, percent per hour; null when the mean is 0 */
  percentPerHour: number | null;
  /** points used (after warm-up) */
  points: number;
}

/** Least-squares slope per hour of the points at or after `fromSeconds`; null with fewer than 3 points. */
export function slopePerHour(points: readonly Point[], fromSeconds = 0): Slope | null {
  const used = points.filter((p) => p.t >= fromSeconds && Number.isFinite(p.value));
  const n = used.length;
  if (n < 3) return null;
  const mt = used.reduce((s, p) => s + p.t, 0) / n;
  const mv = used.reduce((s, p) => s + p.value, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of used) {
    num += (p.t - mt) * (p.value - mv);
    den += (p.t - mt) ** 2;
  }
  if (den === 0) return null;
  const perHour = (num / den) * 3600;
  return { perHour, mean: mv, percentPerHour: mv === 0 ? null : (perHour / mv) * 100, points: n };
}

export interface PodMemory {
  pod: string;
  bytes: number;
}

export interface Aggregate {
  mean: number;
  max: number;
  min: number;
  count: number;
}

/** Mean, max and min across the pods of one probe; null when none answered. */
export function aggregate(values: readonly number[]): Aggregate | null {
  if (values.length === 0) return null;
  return {
    mean: values.reduce((s, v) => s + v, 0) / values.length,
    max: Math.max(...values),
    min: Math.min(...values),
    count: values.length,
  };
}

/**
 * The increase of a Prometheus counter between two readings, per source (e.g. per operator
 * pod): a reading below the previous one is a restart, counted from zero (as PromQL's rate()).
 */
export function counterIncrease(
  previous: ReadonlyMap<string, number>,
  current: ReadonlyMap<string, number>,
): number {
  let total = 0;
  for (const [source, value] of current) {
    const before = previous.get(source);
    if (before === undefined) continue; // a new source: no interval yet
    total += value >= before ? value - before : value;
  }
  return total;
}

/** Sum of the samples of `metric` (any labels) in a Prometheus text exposition; null when absent. */
export function metricSum(text: string, metric: string): number | null {
  let sum: number | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== metric) continue;
    const v = Number(m[3]);
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}

/** `key:value` lines of Redis INFO as numbers where they are numbers. */
export function parseRedisInfo(text: string): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i < 0) continue;
    const raw = line.slice(i + 1);
    const n = Number(raw);
    out[line.slice(0, i)] = raw !== '' && Number.isFinite(n) ? n : raw;
  }
  return out;
}

/** Seconds after the start at which something recurs every `every` seconds within `duration`: every, 2·every, ... < duration. */
export function everyTimes(every: number, duration: number, offset = 0): number[] {
  if (every <= 0) return [];
  const times: number[] = [];
  for (let t = every + offset; t < duration; t += every) times.push(t);
  return times;
}

/** A series sampled at irregular seconds as one value per second 0..length-1, holding the last value; null before the first. */
export function perSecondHeld(points: readonly Point[], length: number): (number | null)[] {
  const sorted = [...points].sort((a, b) => a.t - b.t);
  const out: (number | null)[] = [];
  let j = 0;
  let held: number | null = null;
  for (let s = 0; s < length; s++) {
    while (j < sorted.length && (sorted[j] as Point).t < s + 1) {
      held = (sorted[j] as Point).value;
      j++;
    }
    out.push(held);
  }
  return out;
}

/**
 * When the faults come: about every `faultEvery` seconds, moved half-way between two rollouts when
 * there are rollouts (a fault then hits a steady service, and the system is back before the next
 * rolling update), none in the last 30 s of the load; never two at the same time.
 */
export function faultTimes(faultEvery: number, rolloutEvery: number, duration: number): number[] {
  const out: number[] = [];
  for (const t of everyTimes(faultEvery, duration - 30)) {
    const at = rolloutEvery > 0 ? (Math.floor(t / rolloutEvery) + 0.5) * rolloutEvery : t;
    if (at < duration - 30 && !out.includes(at)) out.push(at);
  }
  return out;
}

/** Workload image tags a kind cluster has loaded (cluster/kind: v1 ... v6, the e2e suite's). */
export const SOAK_TAGS = 6;

/**
 * The tag number after `rollouts` rolling updates: v1, v2, ... v6, then v1 again. Each rollout is
 * a tag change, as in the seed, and a kind cluster needs no more images than the e2e suite's.
 */
export function soakTag(rollouts: number): number {
  return (rollouts % SOAK_TAGS) + 1;
}

export interface Generation {
  /** the first point's time */
  t: number;
  max: number;
  min: number;
  count: number;
}

/**
 * Points (sorted by time) grouped into generations: a point within `withinSeconds` of a group's
 * first point joins it. The pods of one rolling update start within its duration (about 20 s
 * here), the next update's a rollout interval later.
 */
export function generationsOf(points: readonly Point[], withinSeconds: number): Generation[] {
  const out: Generation[] = [];
  for (const p of [...points].sort((a, b) => a.t - b.t)) {
    const g = out.at(-1);
    if (g !== undefined && p.t - g.t <= withinSeconds) {
      g.max = Math.max(g.max, p.value);
      g.min = Math.min(g.min, p.value);
      g.count++;
    } else out.push({ t: p.t, max: p.value, min: p.value, count: 1 });
  }
  return out;
}
