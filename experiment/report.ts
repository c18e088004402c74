/**
 * The experiment's picture: one self-contained HTML file (inline SVG and CSS,
 * no script, no network) with, per run, the timeline of requests per second,
 * failures, pods ready and terminating, and the counter against the answered
 * increments; for a sweep, the rate against lost and failed.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type ExperimentResult, passed, type SweepResult } from './model.ts';
import { formatConditions, formatDrain, formatFault, verdict } from './summary.ts';
import { type Band, escapeXml, timeChart, xyChart } from './svg.ts';

interface ReportInput {
  title: string;
  runs: readonly ExperimentResult[];
  sweep?: SweepResult;
  /** e.g. the machine, the cluster */
  context?: string;
}

const COLORS = {
  ok: '#3b8f4a',
  failed: '#d62728',
  ready: '#1f6fb4',
  terminating: '#ef8a17',
  counter: '#6b3fa0',
  answered: '#8a8a8a',
  rollout: '#ef8a17',
  lost: '#d62728',
};

export function renderReport(input: ReportInput): string {
  const body: string[] = [];
  body.push(`<h1>${escapeXml(input.title)}</h1>`);
  if (input.context) body.push(`<p class="context">${escapeXml(input.context)}</p>`);
  if (input.runs.length > 1) body.push(runsTable(input.runs));
  if (input.sweep) body.push(sweepSection(input.sweep));
  for (const run of input.runs) body.push(runSection(run));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeXml(input.title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body.join('\n')}
</body>
</html>
`;
}

export async function writeReport(path: string, input: ReportInput): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, renderReport(input));
}

function runSection(r: ExperimentResult): string {
  const t = r.timeline;
  const xMax = Math.max(t.length, r.duration + 1);
  // a rollout overlapped by the next one ends where the next begins
  const bands: Band[] = r.rolloutRecords.map((ro, i) => ({
    from: ro.startedAt,
    to: ro.completedAt ?? r.rolloutRecords[i + 1]?.startedAt ?? xMax,
    label: `rollout ${ro.index} → ${tagOf(ro.toImage)}`,
    color: COLORS.rollout,
  }));
  // fault marks: the kill (or stop) and the moment the part worked again
  const markers = [
    { at: r.duration, label: 'load ends' },
    ...(r.faults ?? []).flatMap((f) => [
      { at: f.at, label: `${f.name}` },
      ...(f.recoveredAt === null ? [] : [{ at: f.recoveredAt, label: `${f.name.split('-')[0]} back` }]),
    ]),
  ];

  // cumulative 2xx by request second: what the counter should reach once
  // each increment's work (seconds after the answer) is done
  let cumulative = 0;
  const answered = t.map((s) => {
    cumulative += s.ok;
    return cumulative;
  });
  const ok = passed(r);
  const cls = r.mode === 'hard' ? 'control' : ok ? 'pass' : 'fail';
  const cards = [
    ['sent', r.sent],
    ['2xx', r.ok],
    ['failed', r.failed],
    ['counter', r.counter],
    ['lost', r.lost],
    ['rollout', r.rolloutSeconds === null ? '–' : `${r.rolloutSeconds.toFixed(1)}s`],
    ['grace period', r.gracePeriodSeconds === null ? '–' : `${r.gracePeriodSeconds}s`],
  ]
    .map(
      ([k, v]) =>
        `<div class="card${(k === 'lost' || k === 'failed') && v !== 0 ? ' bad' : ''}"><div class="v">${escapeXml(String(v))}</div><div class="k">${k}</div></div>`,
    )
    .join('');

  const charts = [
    timeChart({
      title: 'Requests per second (by send time)',
      yLabel: 'requests/s',
      xMax,
      bands,
      markers,
      series: [
        { label: '2xx', color: COLORS.ok, kind: 'bars', values: t.map((s) => s.ok) },
        {
          label: 'failed',
          color: COLORS.failed,
          kind: 'bars',
          stacked: true,
          values: t.map((s) => s.failed),
        },
      ],
      minYMax: r.rate,
    }),
    timeChart({
      title: 'Pods',
      yLabel: 'pods',
      xMax,
      bands,
      height: 170,
      series: [
        {
          label: 'terminating',
          color: COLORS.terminating,
          kind: 'area',
          values: t.map((s) => s.podsTerminating),
        },
        { label: 'ready', color: COLORS.ready, kind: 'step', values: t.map((s) => s.podsReady) },
      ],
      minYMax: r.replicas + 1,
      integer: true,
    }),
    timeChart({
      title: 'Redis counter against the increments answered 2xx',
      yLabel: 'increments',
      xMax,
      bands,
      markers,
      series: [
        {
          label: 'answered 2xx (cumulative)',
          color: COLORS.answered,
          kind: 'line',
          dashed: true,
          values: answered,
        },
        { label: 'counter', color: COLORS.counter, kind: 'line', values: t.map((s) => s.counter) },
      ],
      notes:
        r.lost === 0 ? [] : [{ at: xMax, value: r.counter, label: `lost ${r.lost}`, color: COLORS.lost }],
    }),
  ];

  const drains =
    r.drains.length + r.drainsMissing.length === 0
      ? '<p class="muted">No drain records.</p>'
      : `<ul class="drains">${r.drains.map((d) => `<li>${escapeXml(formatDrain(d))}</li>`).join('')}${r.drainsMissing
          .map((p) => `<li class="bad">${escapeXml(p)}: no drain record</li>`)
          .join('')}</ul>`;
  const failures = Object.entries(r.failures);
  const failureList =
    failures.length === 0
      ? ''
      : `<p>Failures: ${failures.map(([cause, n]) => `${n} × ${escapeXml(cause)}`).join(', ')}</p>`;

  return `<section class="run ${cls}">
<h2>${escapeXml(r.mode)}: ${r.rate}/s for ${r.duration}s, ${r.replicas} replica${r.replicas === 1 ? '' : 's'}, ${r.rollouts} rolling update${r.rollouts === 1 ? '' : 's'}</h2>
<p class="verdict">${escapeXml(verdict(r))}</p>
${r.conditions === undefined ? '' : `<p class="context">Conditions: ${escapeXml(formatConditions(r.conditions))}</p>`}
${(r.faults ?? []).map((f) => `<p class="context">Fault ${escapeXml(formatFault(f))}</p>`).join('\n')}
<div class="cards">${cards}</div>
${charts.join('\n')}
<h3>Drains (operator status)</h3>
${drains}
${failureList}
<p class="muted">${escapeXml(r.namespace)}/${escapeXml(r.name)}, NodePort ${r.nodePort}, started ${escapeXml(r.startedAt)}, whole run ${r.wallSeconds.toFixed(0)}s, slowest answer ${Math.round(r.maxLatencyMs)} ms.</p>
</section>`;
}

function runsTable(runs: readonly ExperimentResult[]): string {
  const rows = runs
    .map(
      (r) =>
        `<tr class="${r.mode === 'hard' ? 'control' : passed(r) ? 'pass' : 'fail'}"><td>${escapeXml(r.mode)}</td><td>${r.rate}/s × ${r.duration}s</td><td>${r.replicas}</td><td>${r.rollouts}</td><td>${r.sent}</td><td>${r.ok}</td><td>${r.failed}</td><td>${r.counter}</td><td>${r.lost}</td></tr>`,
    )
    .join('');
  return `<table class="runs"><thead><tr><th>mode</th><th>load</th><th>replicas</th><th>rollouts</th><th>sent</th><th>2xx</th><th>failed</th><th>counter</th><th>lost</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function sweepSection(s: SweepResult): string {
  const chart = xyChart({
    title: 'Rolling update under load: rate against lost and failed requests',
    xLabel: 'requests per second',
    yLabel: 'requests',
    series: [
      {
        label: 'failed',
        color: COLORS.terminating,
        points: s.points.map((p) => ({ x: p.rate, y: p.failed })),
      },
      {
        label: 'lost (2xx, not counted)',
        color: COLORS.lost,
        // a negative loss (counted more than answered: the client gave up on requests the
        // service had taken) is no loss; the table shows the figure
        points: s.points.map((p) => ({ x: p.rate, y: Math.max(0, p.lost) })),
      },
    ],
    ...(s.highestLosslessRate === null
      ? {}
      : { marker: { at: s.highestLosslessRate, label: `highest lossless: ${s.highestLosslessRate}/s` } }),
  });
  const rows = s.points
    .map(
      (p) =>
        `<tr><td>${p.rate}</td><td>${p.sent}</td><td>${p.ok}</td><td>${p.failed}</td><td>${p.lost}</td><td>${escapeXml(p.error ?? failureNote(p.failures))}</td></tr>`,
    )
    .join('');
  return `<section class="sweep">
<h2>Sweep: ${s.highestLosslessRate === null ? 'no rate was lossless' : `highest lossless rate ${s.highestLosslessRate}/s`}</h2>
${chart}
<table class="runs"><thead><tr><th>rate/s</th><th>sent</th><th>2xx</th><th>failed</th><th>lost</th><th>note</th></tr></thead><tbody>${rows}</tbody></table>
</section>`;
}

/** "700 × address already in use, 12 × EOF": the causes, most frequent first */
function failureNote(failures: Record<string, number> | undefined): string {
  return Object.entries(failures ?? {})
    .sort((a, b) => b[1] - a[1])
    .map(([cause, n]) => `${n} × ${cause}`)
    .join(', ');
}

function tagOf(image: string): string {
  const at = image.lastIndexOf(':');
  return at > image.lastIndexOf('/') ? image.slice(at + 1) : image;
}

export const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 24px auto; max-width: 1060px; padding: 0 12px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 0 0 6px; }
h3 { font-size: 15px; margin: 14px 0 4px; }
.context, .muted { color: #666; }
section { border: 1px solid #ddd; border-left: 6px solid #999; border-radius: 4px; padding: 14px 16px; margin: 18px 0; }
section.pass { border-left-color: #3b8f4a; }
section.fail { border-left-color: #d62728; }
section.control { border-left-color: #ef8a17; }
.verdict { font-weight: 600; margin: 0 0 10px; }
.cards { display: flex; gap: 10px; flex-wrap: wrap; margin-bottom: 8px; }
.card { border: 1px solid #e3e3e3; border-radius: 4px; padding: 6px 12px; min-width: 80px; text-align: center; }
.card .v { font-size: 20px; font-weight: 600; }
.card .k { color: #666; font-size: 12px; }
.card.bad .v, li.bad { color: #d62728; }
svg { display: block; margin: 6px 0; max-width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
svg .title { font-size: 13px; font-weight: 600; fill: #222; }
svg .ytick { text-anchor: end; }
svg .xtick, svg .xlabel, svg .ylabel { text-anchor: middle; }
svg .legend { font-size: 12px; }
svg .band { fill: #a65d00; font-size: 10px; }
svg .note { text-anchor: end; font-size: 13px; font-weight: 600; }
svg .markerlabel { text-anchor: end; fill: #555; font-size: 10px; }
svg .markerlabel.start { text-anchor: start; }
svg .grid { stroke: #eee; }
svg .axis { stroke: #999; }
svg .marker { stroke: #555; stroke-dasharray: 3 3; }
table.runs { border-collapse: collapse; margin: 10px 0; }
table.runs th, table.runs td { border-bottom: 1px solid #eee; padding: 3px 10px; text-align: right; }
table.runs th:first-child, table.runs td:first-child { text-align: left; }
tr.fail td { color: #d62728; }
ul.drains { margin: 4px 0; padding-left: 20px; font-family: ui-monospace, monospace; font-size: 12px; }
`;
