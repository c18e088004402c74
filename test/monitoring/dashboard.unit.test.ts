// The Grafana dashboard (config/grafana/lastcall.json) parses, shows what an admin tunes grace
// periods with, and every query names only metrics the code registers: the names are read from the
// operator's and the workload's metric registrations, so renaming a metric without the dashboard
// (or the alerts) fails here.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../../cluster/tools.ts';

interface Panel {
  type: string;
  title: string;
  targets?: Array<{ expr: string }>;
}
interface Dashboard {
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: string | { query: string } }> };
}

/** Every source file under dir (recursively), tests excluded. */
async function sources(dir: string): Promise<string[]> {
  const entries = await readdir(join(repoRoot, dir), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.includes('.test.'))
    .map((e) => join(e.parentPath, e.name));
}

/**
 * The metric names the code registers: `name: 'lastcall_…'` in the operator and the workload, with
 * the series a histogram adds (_bucket, _sum, _count) for those made by `new Histogram`.
 */
async function exportedMetrics(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const file of [...(await sources('operator')), ...(await sources('workload'))]) {
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(/(new (\w+)(?:<[^>]*>)?\(\{\s*)?name: '(lastcall_[a-z0-9_]+)'/g)) {
      const name = m[3] ?? '';
      names.add(name);
      if (m[2] === 'Histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    }
  }
  return names;
}

const functions = new Set([
  'sum',
  'max',
  'min',
  'avg',
  'count',
  'rate',
  'irate',
  'increase',
  'histogram_quantile',
  'vector',
  'label_values',
  'topk',
  'clamp_min',
  'absent',
]);
const keywords = new Set(['by', 'without', 'or', 'and', 'unless', 'on', 'ignoring', 'bool']);

/** The metric names a PromQL expression (or a label_values() variable query) reads. */
function metricsIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values, legend strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, '') // grouping labels
    .replace(/,\s*[a-z_]+\s*\)/g, ')') // label_values(metric, label): the label
    .replace(/\$\w+/g, '');
  const names: string[] = [];
  for (const m of stripped.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?/g)) {
    const [token = '', call] = [m[0].replace(/\s*\($/, ''), m[1]];
    if (call && functions.has(token)) continue;
    if (keywords.has(token)) continue;
    names.push(token);
  }
  return names;
}

describe('the Grafana dashboard', async () => {
  const dashboard = JSON.parse(
    await readFile(join(repoRoot, 'config', 'grafana', 'lastcall.json'), 'utf8'),
  ) as Dashboard;
  const exported = await exportedMetrics();
  const queries = [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr }))),
    ...dashboard.templating.list
      .filter((v) => v.type === 'query')
      .map((v) => ({
        where: `variable ${v.name}`,
        expr: typeof v.query === 'string' ? v.query : (v.query?.query ?? ''),
      })),
  ];

  test('parses, with a uid and the panels an admin needs', () => {
    expect(dashboard.uid).toBe('lastcall-overview');
    const titles = dashboard.panels.map((p) => p.title);
    for (const wanted of [
      'Drains by outcome',
      'Abandoned increments',
      'Grace period in force against recommended',
      'Pending increments',
      'Rollout duration',
      'Reconcile latency',
    ]) {
      expect(titles).toContain(wanted);
    }
  });

  test('the metric names are read from the code', () => {
    // A sanity check of the reader itself: names from operator/runtime/metrics.ts,
    // operator/counterservice-metrics.ts and workload/metrics.ts.
    for (const name of [
      'lastcall_reconcile_duration_seconds_bucket',
      'lastcall_leader',
      'lastcall_counterservice_drains_total',
      'lastcall_counterservice_grace_period_seconds',
      'lastcall_workload_pending_increments',
    ]) {
      expect(exported).toContain(name);
    }
    expect(exported).not.toContain('lastcall_leader_bucket');
  });

  test('every query names metrics, and only metrics the code exports', () => {
    expect(queries.length).toBeGreaterThan(10);
    for (const { where, expr } of queries) {
      const names = metricsIn(expr);
      expect(names.length, `${where}: ${expr} names a metric`).toBeGreaterThan(0);
      for (const name of names) expect(exported, `${where}: ${name} in ${expr}`).toContain(name);
    }
  });

  test('the alerting rules, too, read only exported metrics', async () => {
    const rules = parse(await readFile(join(repoRoot, 'config', 'prometheus', 'rules.yaml'), 'utf8')) as {
      spec: { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
    };
    for (const rule of rules.spec.groups.flatMap((g) => g.rules)) {
      for (const name of metricsIn(rule.expr)) expect(exported, `${rule.alert}: ${name}`).toContain(name);
    }
  });

  test('metricsIn finds metrics, not functions, labels or variables', () => {
    expect(
      metricsIn(
        'histogram_quantile(0.99, sum by (le) (rate(lastcall_reconcile_duration_seconds_bucket{namespace=~"$namespace"}[$__rate_interval])))',
      ),
    ).toEqual(['lastcall_reconcile_duration_seconds_bucket']);
    expect(metricsIn('count(max by (a, b) (x_total) == 0) or vector(0)')).toEqual(['x_total']);
    expect(metricsIn('label_values(some_metric{namespace=~"$namespace"}, counterservice)')).toEqual([
      'some_metric',
    ]);
  });
});
