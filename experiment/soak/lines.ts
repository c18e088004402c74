/**
 * The soak run's probe readings as lines (one point per probe) and their slopes: pure.
 */
import type { PodReading, ProbeReading, WorkloadReading } from './probes.ts';
import { aggregate, counterIncrease, type Point, type Slope, slopePerHour } from './stats.ts';

export interface Line {
  /** e.g. "redis used_memory", "operator lastcall-operator-7d9-x RSS" */
  name: string;
  /** memory lines are checked for creep; the others are shown */
  kind: 'memory' | 'count' | 'latency' | 'rate';
  unit: 'bytes' | 'keys' | 'ms' | 'per second';
  points: Point[];
}

/** Every line the report draws and the summary reports, from the probes in time order. */
export function linesOf(readings: readonly ProbeReading[]): Line[] {
  const usedMemory: Point[] = [];
  const keys: Point[] = [];
  const ping: Point[] = [];
  const workloadMean: Point[] = [];
  const workloadMax: Point[] = [];
  const workloadHeap: Point[] = [];
  const operatorRss = new Map<string, Point[]>();
  const operatorHeap = new Map<string, Point[]>();
  const reconcileRate: Point[] = [];
  let previous: { t: number; reconciles: Map<string, number> } | undefined;
  for (const r of readings) {
    if (r.redis !== null) {
      if (Number.isFinite(r.redis.usedMemoryBytes))
        usedMemory.push({ t: r.t, value: r.redis.usedMemoryBytes });
      keys.push({ t: r.t, value: r.redis.keys });
      ping.push({ t: r.t, value: r.redis.pingMs });
    }
    const w = aggregate(r.workload.map((p) => p.rssBytes));
    if (w !== null) {
      workloadMean.push({ t: r.t, value: w.mean });
      workloadMax.push({ t: r.t, value: w.max });
    }
    const heap = aggregate(r.workload.flatMap((p) => (p.heapUsedBytes === null ? [] : [p.heapUsedBytes])));
    if (heap !== null) workloadHeap.push({ t: r.t, value: heap.mean });
    for (const o of r.operator) {
      const line = operatorRss.get(o.pod) ?? [];
      line.push({ t: r.t, value: o.rssBytes });
      operatorRss.set(o.pod, line);
      if (o.heapUsedBytes !== null) {
        const h = operatorHeap.get(o.pod) ?? [];
        h.push({ t: r.t, value: o.heapUsedBytes });
        operatorHeap.set(o.pod, h);
      }
    }
    if (r.operator.length > 0) {
      const reconciles = new Map(r.operator.map((o) => [o.pod, o.reconciles]));
      if (previous !== undefined && r.t > previous.t) {
        reconcileRate.push({
          t: r.t,
          value: counterIncrease(previous.reconciles, reconciles) / (r.t - previous.t),
        });
      }
      previous = { t: r.t, reconciles };
    }
  }
  return [
    { name: 'redis used_memory', kind: 'memory', unit: 'bytes', points: usedMemory },
    { name: 'redis keys', kind: 'count', unit: 'keys', points: keys },
    { name: 'workload RSS (mean of pods)', kind: 'memory', unit: 'bytes', points: workloadMean },
    { name: 'workload RSS (max of pods)', kind: 'memory', unit: 'bytes', points: workloadMax },
    { name: 'workload heap used (mean of pods)', kind: 'memory', unit: 'bytes', points: workloadHeap },
    {
      name: WORKLOAD_RSS_PER_POD,
      kind: 'memory',
      unit: 'bytes',
      points: peakPerReplacedPod(readings, (p) => p.rssBytes),
    },
    {
      name: WORKLOAD_HEAP_PER_POD,
      kind: 'memory',
      unit: 'bytes',
      points: peakPerReplacedPod(readings, (p) => p.heapUsedBytes),
    },
    ...[...operatorRss].map(
      ([pod, points]): Line => ({ name: `operator ${pod} RSS`, kind: 'memory', unit: 'bytes', points }),
    ),
    ...[...operatorHeap].map(
      ([pod, points]): Line => ({ name: `operator ${pod} heap used`, kind: 'memory', unit: 'bytes', points }),
    ),
    { name: 'redis PING', kind: 'latency', unit: 'ms', points: ping },
    { name: 'operator reconciles', kind: 'rate', unit: 'per second', points: reconcileRate },
  ];
}

/**
 * The per-generation view of the workload: a pod lives one rollout interval, and its memory climbs
 * while it warms up, so the mean and max of the pods alive saw-tooth with every rollout, and a
 * slope over them mixes pod age with creep. One point per pod that was replaced during the run
 * (absent from the last reading), at its first reading, with the highest value it reached: a
 * flat line means each generation of pods peaks where the first did.
 */
export const WORKLOAD_RSS_PER_POD = 'workload RSS peak per replaced pod (at its start)';
export const WORKLOAD_HEAP_PER_POD = 'workload heap used peak per replaced pod (at its start)';

/** Each pod replaced during the run (absent from the last reading): when it was first read, and its readings. */
function replacedPods(
  readings: readonly ProbeReading[],
): Map<string, { start: number; seen: WorkloadReading[] }> {
  const stillRunning = new Set(readings.at(-1)?.workload.map((p) => p.pod) ?? []);
  const pods = new Map<string, { start: number; seen: WorkloadReading[] }>();
  for (const r of readings) {
    for (const pod of r.workload) {
      if (stillRunning.has(pod.pod)) continue;
      const known = pods.get(pod.pod);
      if (known === undefined) pods.set(pod.pod, { start: r.t, seen: [pod] });
      else known.seen.push(pod);
    }
  }
  return pods;
}

/** The highest of `values` that is a number; null when none is. */
function peakOf(values: readonly (number | null | undefined)[]): number | null {
  const numbers = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return numbers.length === 0 ? null : Math.max(...numbers);
}

function peakPerReplacedPod(
  readings: readonly ProbeReading[],
  pick: (pod: PodReading) => number | null,
): Point[] {
  return [...replacedPods(readings).values()]
    .flatMap(({ start, seen }) => {
      const value = peakOf(seen.map(pick));
      return value === null ? [] : [{ t: start, value }];
    })
    .sort((a, b) => a.t - b.t);
}

export interface LoadShare {
  /** replaced pods with both readings */
  pods: number;
  /** Pearson's r of each replaced pod's peak RSS against the increments it completed */
  r: number | null;
  /** the fewest and most increments one replaced pod completed */
  fewest: number;
  most: number;
}

/**
 * Whether the hot pods are the busy ones: a pod's peak memory against its share of the load
 * (increments Redis confirmed for it). A high r says the peaks follow the load per pod (how the
 * Service spread the clients' connections), not the pod's age or the run's length; null without
 * the readings (runs recorded before the probes read the count).
 */
export function loadShareOf(readings: readonly ProbeReading[]): LoadShare | null {
  const xs: number[] = [];
  const ys: number[] = [];
  for (const { seen } of replacedPods(readings).values()) {
    const completed = peakOf(seen.map((p) => p.completed));
    if (completed === null) continue;
    xs.push(completed);
    ys.push(peakOf(seen.map((p) => p.rssBytes)) as number);
  }
  if (xs.length < 3) return null;
  return { pods: xs.length, r: pearson(xs, ys), fewest: Math.min(...xs), most: Math.max(...xs) };
}

export function pearson(xs: readonly number[], ys: readonly number[]): number | null {
  const n = Math.min(xs.length, ys.length);
  if (n < 3) return null;
  const mx = xs.slice(0, n).reduce((a, b) => a + b, 0) / n;
  const my = ys.slice(0, n).reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] as number) - mx;
    const dy = (ys[i] as number) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? null : sxy / Math.sqrt(sxx * syy);
}

export interface LineSlope {
  name: string;
  unit: Line['unit'];
  kind: Line['kind'];
  slope: Slope | null;
  /** the last reading */
  last: number | null;
  max: number | null;
}

export function slopesOf(lines: readonly Line[], warmupSeconds: number): LineSlope[] {
  return lines.map((l) => ({
    name: l.name,
    unit: l.unit,
    kind: l.kind,
    slope: slopePerHour(l.points, warmupSeconds),
    last: l.points.at(-1)?.value ?? null,
    max: l.points.length === 0 ? null : Math.max(...l.points.map((p) => p.value)),
  }));
}

export function formatValue(value: number | null, unit: Line['unit']): string {
  if (value === null || !Number.isFinite(value)) return '–';
  if (unit === 'bytes') return `${(value / 1e6).toFixed(1)} MB`;
  if (unit === 'ms') return `${value.toFixed(2)} ms`;
  if (unit === 'per second') return `${value.toFixed(2)}/s`;
  return `${Math.round(value)}`;
}

/** "+0.4 MB/h (+0.3 %/h of 120.1 MB)" */
export function formatSlope(s: LineSlope): string {
  // latency and rates are shown, not checked for creep: their mean says more
  if ((s.kind === 'latency' || s.kind === 'rate') && s.slope !== null)
    return `mean ${formatValue(s.slope.mean, s.unit)}`;
  if (s.slope === null) return 'no slope (fewer than 3 readings after warm-up)';
  const sign = s.slope.perHour >= 0 ? '+' : '−';
  const abs = Math.abs(s.slope.perHour);
  const per =
    s.unit === 'bytes'
      ? `${(abs / 1e6).toFixed(2)} MB/h`
      : s.unit === 'ms'
        ? `${abs.toFixed(3)} ms/h`
        : s.unit === 'per second'
          ? `${abs.toFixed(3)}/s per hour`
          : `${abs.toFixed(1)} keys/h`;
  const pct =
    s.slope.percentPerHour === null
      ? ''
      : ` (${s.slope.percentPerHour >= 0 ? '+' : '−'}${Math.abs(s.slope.percentPerHour).toFixed(1)} %/h`;
  return `${sign}${per}${pct}${pct === '' ? '' : ` of ${formatValue(s.slope.mean, s.unit)})`}`;
}
