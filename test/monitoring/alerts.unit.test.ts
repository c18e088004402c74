// The alerting rules (config/prometheus/rules.yaml) checked and unit-tested by the real promtool,
// built from its Go module (cluster/tools/build-ops.sh): every alert has a promtool test in which
// it fires and one in which it does not, and a runbook section in docs/runbooks.md.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { ensureOpsTools, repoRoot } from '../../cluster/tools.ts';

const run = promisify(execFile);

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface PrometheusRule {
  kind: string;
  spec: { groups: Array<{ name: string; rules: Rule[] }> };
}
interface ExpectedAlert {
  exp_labels?: Record<string, string>;
  exp_annotations?: Record<string, string>;
}
interface PromtoolTests {
  rule_files: string[];
  tests: Array<{
    name: string;
    alert_rule_test?: Array<{ eval_time: string; alertname: string; exp_alerts: ExpectedAlert[] }>;
  }>;
}

const rulesPath = join(repoRoot, 'config', 'prometheus', 'rules.yaml');
const testsPath = join(repoRoot, 'test', 'monitoring', 'alerts.promtool.yaml');
const runbooksPath = join(repoRoot, 'docs', 'runbooks.md');

let promtool: string;
let dir: string;
let resource: PrometheusRule;
let alerts: Rule[];
let tests: PromtoolTests;

beforeAll(async () => {
  // Built once per machine (minutes, cold); hack/setup.sh builds it before the tests run.
  promtool = join(await ensureOpsTools(), 'promtool');
  dir = await mkdtemp(join(tmpdir(), 'lastcall-promtool-'));
  resource = parse(await readFile(rulesPath, 'utf8')) as PrometheusRule;
  alerts = resource.spec.groups.flatMap((g) => g.rules).filter((r) => r.alert);
  tests = parse(await readFile(testsPath, 'utf8')) as PromtoolTests;
}, 1_800_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Renders the `{{ $labels.x }}` of an annotation as Prometheus does for an alert with these labels. */
function render(template: string, labels: Record<string, string>): string {
  return template.replace(
    /\{\{\s*\$labels\.(\w+)\s*\}\}/g,
    (_, name: string) => labels[name] ?? '<no value>',
  );
}

describe('alerting rules', () => {
  test('the PrometheusRule holds only alerts, each with a severity and a runbook section', async () => {
    expect(resource.kind).toBe('PrometheusRule');
    expect(alerts.map((a) => a.alert)).toEqual([
      'LastcallDrainKilled',
      'LastcallDrainAbandonedWork',
      'LastcallBudgetRefused',
      'LastcallRolloutStuck',
      'LastcallNoLeader',
      'LastcallReconcileErrors',
    ]);
    const runbooks = await readFile(runbooksPath, 'utf8');
    const headings = new Map(
      [...runbooks.matchAll(/^## (.+)$/gm)].map((m) => [m[1]?.trim().toLowerCase() ?? '', m.index ?? 0]),
    );
    for (const alert of alerts) {
      expect(alert.labels?.severity, alert.alert).toMatch(/^(warning|critical)$/);
      expect(alert.annotations?.summary, alert.alert).toBeTruthy();
      const anchor = `docs/runbooks.md#${alert.alert?.toLowerCase()}`;
      expect(alert.annotations?.runbook_url, alert.alert).toBe(anchor);
      const start = headings.get(alert.alert?.toLowerCase() ?? '');
      expect(start, `a "## ${alert.alert}" section in docs/runbooks.md`).toBeDefined();
      const section = runbooks.slice(start).split(/^## /m)[1] ?? '';
      for (const part of ['What it means', 'Confirm', 'What to change']) {
        expect(section, `${alert.alert}: "${part}" in its runbook`).toContain(part);
      }
    }
  });

  test('promtool check rules accepts them', async () => {
    const rules = join(dir, 'rules.yaml');
    await writeFile(rules, stringify({ groups: resource.spec.groups }));
    const { stdout } = await run(promtool, ['check', 'rules', rules]);
    expect(stdout).toContain(`SUCCESS: ${alerts.length} rules found`);
  });

  test('every alert has a promtool test where it fires and one where it does not', () => {
    for (const alert of alerts) {
      const cases = tests.tests
        .flatMap((t) => t.alert_rule_test ?? [])
        .filter((c) => c.alertname === alert.alert);
      expect(
        cases.some((c) => c.exp_alerts.length > 0),
        `${alert.alert} fires in a test`,
      ).toBe(true);
      expect(
        cases.some((c) => c.exp_alerts.length === 0),
        `${alert.alert} stays quiet in a test`,
      ).toBe(true);
    }
  });

  test('promtool test rules passes', async () => {
    await writeFile(join(dir, 'rules.yaml'), stringify({ groups: resource.spec.groups }));
    // The expected annotations are the rule's, rendered with the expected labels: the test file
    // states which alert fires with which labels, promtool checks the annotations render too.
    const byName = new Map(alerts.map((a) => [a.alert, a]));
    for (const t of tests.tests) {
      for (const c of t.alert_rule_test ?? []) {
        const rule = byName.get(c.alertname);
        expect(rule, `${t.name}: alert ${c.alertname} exists`).toBeDefined();
        for (const expected of c.exp_alerts) {
          const labels = expected.exp_labels ?? {};
          expected.exp_annotations = Object.fromEntries(
            Object.entries(rule?.annotations ?? {}).map(([k, v]) => [k, render(v, labels)]),
          );
        }
      }
    }
    const file = join(dir, 'alerts.promtool.yaml');
    await writeFile(file, stringify(tests));
    const result = await run(promtool, ['test', 'rules', file]).catch(
      (err: { stdout?: string; stderr?: string }) => err,
    );
    expect(`${result.stdout ?? ''}${result.stderr ?? ''}`).toContain('SUCCESS');
  });
});
