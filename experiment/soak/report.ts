/**
 * The soak run's report: one self-contained HTML file (inline SVG and CSS, the experiment's charts
 * and style): the accounting, the counter against the answered increments, requests per second,
 * a memory chart per component, Redis keys and latency, the operator's reconcile rate, every
 * rollout shaded and every fault marked, and the slope per hour of each line after warm-up.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { STYLE } from '../report.ts';
import { type Band, escapeXml, type Series, timeChart } from '../svg.ts';
import {
  formatSlope,
  formatValue,
  type Line,
  linesOf,
  WORKLOAD_HEAP_PER_POD,
  WORKLOAD_RSS_PER_POD,
} from './lines.ts';
import { type SoakResult, soakPassed } from './run.ts';
import { generationsOf, perSecondHeld } from './stats.ts';

const PALETTE = ['#1f6fb4', '#6b3fa0', '#3b8f4a', '#ef8a17', '#d62728', '#17becf', '#8c564b', '#e377c2'];

export function renderSoakReport(r: SoakResult, context = ''): string {
  const xMax = Math.max(r.timeline.length, r.minutes * 60 + 1);
  const bands: Band[] = r.rollouts.map((ro, i) => ({
    from: ro.startedAt,
    to: ro.completedAt ?? r.rollouts[i + 1]?.startedAt ?? xMax,
    label: ro.toImage.split(':').at(-1) ?? '',
    color: '#ef8a17',
  }));
  const markers = [
    { at: r.minutes * 60, label: 'load ends' },
    ...r.faults.flatMap((f) => [
      { at: f.at, label: f.name.split('-')[0] as string },
      ...(f.recoveredAt === null ? [] : [{ at: f.recoveredAt, label: 'back' }]),
    ]),
  ];
  const common = { xMax, bands, markers, height: 230 };
  const t = r.timeline;
  let cumulative = 0;
  const answered = t.map((s) => {
    cumulative += s.ok;
    return cumulative;
  });
  const lines = linesOf(r.probes);
  const byName = new Map(lines.map((l) => [l.name, l]));
  const mb = (l: Line | undefined, label: string, color: string): Series => ({
    label,
    color,
    kind: 'line',
    values: perSecondHeld(l?.points ?? [], xMax).map((v) => (v === null ? null : v / 1e6)),
  });
  // the pods of one rollout start within it; the next rollout's come an interval later
  const within = r.rolloutEverySeconds > 0 ? r.rolloutEverySeconds / 2 : xMax;
  const generationStep = (
    l: Line | undefined,
    pick: 'max' | 'min',
    label: string,
    color: string,
  ): Series => ({
    label,
    color,
    kind: 'step',
    values: perSecondHeld(
      generationsOf(l?.points ?? [], within).map((g) => ({ t: g.t, value: g[pick] / 1e6 })),
      xMax,
    ),
  });
  const operatorLines = lines.filter((l) => l.name.startsWith('operator ') && l.name.endsWith(' RSS'));
  const operatorHeaps = lines.filter((l) => l.name.startsWith('operator ') && l.name.endsWith(' heap used'));
  const charts = [
    timeChart({
      ...common,
      title: 'Redis counter against increments answered 2xx (cumulative, by send time)',
      yLabel: 'increments',
      series: [
        { label: 'answered 2xx', color: '#8a8a8a', kind: 'line', dashed: true, values: answered },
        {
          label: 'Redis counter',
          color: '#6b3fa0',
          kind: 'line',
          values: heldCounter(t.map((s) => s.counter)),
        },
      ],
    }),
    timeChart({
      ...common,
      title: 'Requests per second (by send time)',
      yLabel: 'requests/s',
      minYMax: r.rate,
      series: [
        { label: '2xx', color: '#3b8f4a', kind: 'line', values: t.map((s) => s.ok) },
        { label: 'failed', color: '#d62728', kind: 'line', values: t.map((s) => s.failed) },
      ],
    }),
    timeChart({
      ...common,
      title: 'Pods of the CounterService',
      yLabel: 'pods',
      integer: true,
      minYMax: r.replicas + 1,
      series: [
        { label: 'terminating', color: '#ef8a17', kind: 'area', values: t.map((s) => s.podsTerminating) },
        { label: 'ready', color: '#1f6fb4', kind: 'step', values: t.map((s) => s.podsReady) },
      ],
    }),
    timeChart({
      ...common,
      title: 'Workload pods: resident memory (each pod lives until the next rollout)',
      yLabel: 'MB',
      series: [
        mb(byName.get('workload RSS (mean of pods)'), 'mean of pods', '#1f6fb4'),
        mb(byName.get('workload RSS (max of pods)'), 'max of pods', '#6b3fa0'),
        {
          ...mb(byName.get('workload heap used (mean of pods)'), 'heap used (mean)', '#3b8f4a'),
          dashed: true,
        },
      ],
    }),
    timeChart({
      ...common,
      title: 'Workload pods by generation: peak of each replaced pod',
      yLabel: 'MB',
      series: [
        generationStep(byName.get(WORKLOAD_RSS_PER_POD), 'max', 'RSS, hottest pod', '#6b3fa0'),
        generationStep(byName.get(WORKLOAD_RSS_PER_POD), 'min', 'RSS, coolest pod', '#1f6fb4'),
        generationStep(byName.get(WORKLOAD_HEAP_PER_POD), 'max', 'heap used, hottest pod', '#3b8f4a'),
      ],
    }),
    timeChart({
      ...common,
      title: 'Operator: resident memory (solid) and heap used (dashed) per replica',
      yLabel: 'MB',
      series: [
        ...operatorLines.map((l, i) =>
          mb(
            l,
            replicaLabel(l.name.replace(/^operator /, '').replace(/ RSS$/, ''), r.probes),
            PALETTE[i % PALETTE.length] as string,
          ),
        ),
        ...operatorHeaps.map((l, i) => ({
          ...mb(l, `heap ${i + 1}`, PALETTE[i % PALETTE.length] as string),
          dashed: true,
        })),
      ],
    }),
    timeChart({
      ...common,
      title: 'Redis: used_memory',
      yLabel: 'MB',
      series: [mb(byName.get('redis used_memory'), 'used_memory', '#d62728')],
    }),
    timeChart({
      ...common,
      title:
        'Redis: keys (the counter and the writers’ records; a retired writer’s record expires after 10 min)',
      yLabel: 'keys',
      integer: true,
      series: [
        {
          label: 'keys',
          color: '#8c564b',
          kind: 'line',
          values: perSecondHeld(byName.get('redis keys')?.points ?? [], xMax),
        },
      ],
    }),
    timeChart({
      ...common,
      title: 'Redis: PING round trip from the soak process',
      yLabel: 'ms',
      series: [
        {
          label: 'PING',
          color: '#17becf',
          kind: 'line',
          values: perSecondHeld(byName.get('redis PING')?.points ?? [], xMax),
        },
      ],
    }),
    timeChart({
      ...common,
      title: 'Operator: reconciles per second (all replicas)',
      yLabel: 'reconciles/s',
      series: [
        {
          label: 'reconciles/s',
          color: '#3b8f4a',
          kind: 'line',
          values: perSecondHeld(byName.get('operator reconciles')?.points ?? [], xMax),
        },
      ],
    }),
  ];
  const ok = soakPassed(r);
  const cards = [
    ['sent', r.sent],
    ['2xx', r.ok],
    ['failed', r.failed],
    ['counter', r.counter],
    ['lost', r.lost],
    ['rollouts', r.rollouts.length],
    ['faults', r.faults.length],
    ['drains clean', `${r.drains.clean}/${r.drains.observed}`],
  ]
    .map(
      ([k, v]) =>
        `<div class="card${(k === 'lost' || k === 'failed') && v !== 0 ? ' bad' : ''}"><div class="v">${escapeXml(String(v))}</div><div class="k">${k}</div></div>`,
    )
    .join('');
  const slopeRows = r.slopes
    .map(
      (s) =>
        `<tr><td>${escapeXml(s.name)}</td><td>${escapeXml(formatValue(s.last, s.unit))}</td><td>${escapeXml(formatValue(s.max, s.unit))}</td><td>${escapeXml(formatSlope(s))}</td></tr>`,
    )
    .join('');
  const faultRows = r.faults
    .map(
      (f) =>
        `<tr><td>${escapeXml(f.name)}</td><td>${f.at.toFixed(1)}s</td><td>${f.recoveredAt === null ? '–' : `${f.recoveredAt.toFixed(1)}s`}</td><td>${escapeXml(f.detail)}</td></tr>`,
    )
    .join('');
  const title = `lastcall soak: ${r.minutes} min at ${r.rate}/s, ${r.replicas} replicas, a rollout every ${r.rolloutEverySeconds}s${r.faultEverySeconds > 0 ? `, a fault every ${r.faultEverySeconds}s` : ''}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeXml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeXml(title)}</h1>
${context === '' ? '' : `<p class="context">${escapeXml(context)}</p>`}
<section class="run ${ok ? 'pass' : 'fail'}">
<p class="verdict">${ok ? `PASS: every answered increment was counted (${r.counter}/${r.ok}) and no request failed` : `FAIL: lost ${r.lost}, failed ${r.failed} (${escapeXml(JSON.stringify(r.failures))})`}</p>
<div class="cards">${cards}</div>
${charts.map((c) => `<div class="chart">${c}</div>`).join('\n')}
<h3>Slopes after ${r.warmupSeconds}s of warm-up (least squares, per hour)</h3>
<table class="runs"><thead><tr><th>line</th><th>last</th><th>max</th><th>slope</th></tr></thead><tbody>${slopeRows}</tbody></table>
${r.faults.length === 0 ? '' : `<h3>Faults</h3><table class="runs"><thead><tr><th>fault</th><th>at</th><th>back at</th><th>detail</th></tr></thead><tbody>${faultRows}</tbody></table>`}
<p class="context">Started ${escapeXml(r.startedAt)}, took ${Math.round(r.wallSeconds)}s; namespace ${escapeXml(r.namespace)}, NodePort ${r.nodePort}, counter key ${escapeXml(r.counterKey)}.
Drains: ${r.drains.observed} observed, ${r.drains.clean} clean, ${r.drains.killed} killed, ${r.drains.abandoned} abandoned work (${r.drains.abandonedIncrements} increments), ${r.drains.crashed} crashed.</p>
</section>
</body>
</html>
`;
}

/**
 * "xdhjn (leader)": the pod name's random suffix and whether the replica reconciled during the run
 * (the leader) or never did (a standby), short enough for the legend beside the title.
 */
export function replicaLabel(pod: string, probes: SoakResult['probes']): string {
  const reconciled = probes.some((p) => p.operator.some((o) => o.pod === pod && o.reconciles > 0));
  return `${pod.split('-').at(-1)} (${reconciled ? 'leader' : 'standby'})`;
}

/** The sampled counter holds between samples (a second without a sample is not a drop). */
function heldCounter(values: readonly (number | null)[]): (number | null)[] {
  let held: number | null = null;
  return values.map((v) => {
    if (v !== null) held = v;
    return held;
  });
}

export async function writeSoakReport(path: string, r: SoakResult, context = ''): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, renderSoakReport(r, context));
}
