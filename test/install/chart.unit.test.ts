// The Helm chart (charts/lastcall) kept in step with config/: rendered with its default values it
// gives the objects `kubectl kustomize config/default` gives, modulo the differences listed in
// docs/install.md; with monitoring on, the objects of config/prometheus. Also `helm lint`, and the
// values reaching the objects they are for. helm and kubectl are the real binaries, built from their
// Go modules (cluster/tools/build-ops.sh, cluster/tools/build.sh).
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ensureOpsTools, ensureTools, repoRoot } from '../../cluster/tools.ts';

const run = promisify(execFile);
const chart = join(repoRoot, 'charts', 'lastcall');
// The local cluster's version: what `helm template` assumes instead of asking a cluster.
const kubeVersion = ['--kube-version', '1.37.2'];

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown> & {
    template?: {
      metadata?: { labels?: Record<string, string> };
      spec: { containers: Array<{ image: string; env?: Array<{ name: string; value?: string }> }> };
    };
  };
  [key: string]: unknown;
}

let helm: string;
let kubectl: string;

beforeAll(async () => {
  // Built once per machine (minutes, cold); hack/setup.sh builds both before the tests run.
  [helm, kubectl] = await Promise.all([
    ensureOpsTools().then((bin) => join(bin, 'helm')),
    ensureTools().then((bin) => join(bin, 'kubectl')),
  ]);
}, 3_600_000);

function objects(yaml: string): Obj[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

async function render(...args: string[]): Promise<Obj[]> {
  const { stdout } = await run(
    helm,
    [
      'template',
      'lastcall',
      chart,
      '--namespace',
      'lastcall-system',
      '--include-crds',
      ...kubeVersion,
      ...args,
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return objects(stdout);
}

const key = (o: Obj) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** The labels Helm adds to config/'s (docs/install.md); selectors carry none of them. */
const helmLabels = [
  'helm.sh/chart',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'app.kubernetes.io/managed-by',
];

/** An object as config/ would have it: Helm's labels dropped, the image without its tag. */
function normalised(o: Obj): Obj {
  const copy = structuredClone(o);
  for (const labels of [copy.metadata.labels, copy.spec?.template?.metadata?.labels]) {
    for (const label of helmLabels) delete labels?.[label];
  }
  for (const c of copy.spec?.template?.spec.containers ?? []) c.image = c.image.replace(/:[^:/]+$/, '');
  return copy;
}

describe('the Helm chart', () => {
  test('helm lint passes', async () => {
    const { stdout } = await run(helm, ['lint', '--strict', chart]);
    expect(stdout).toContain('0 chart(s) failed');
  });

  test('with default values it renders what kubectl kustomize config/default does', async () => {
    const { stdout } = await run(kubectl, ['kustomize', join(repoRoot, 'config', 'default')]);
    // Documented difference: the chart does not own its namespace (helm --create-namespace).
    const kustomized = objects(stdout).filter((o) => o.kind !== 'Namespace');
    const rendered = await render();
    expect(rendered.map(key).sort()).toEqual(kustomized.map(key).sort());
    const byKey = new Map(rendered.map((o) => [key(o), o]));
    for (const expected of kustomized) {
      expect(normalised(byKey.get(key(expected)) as Obj), key(expected)).toEqual(normalised(expected));
    }
    // Helm's labels are there, and the image tag is the chart's appVersion.
    const deployment = byKey.get('Deployment lastcall-system/lastcall-operator');
    expect(deployment?.metadata.labels?.['helm.sh/chart']).toMatch(/^lastcall-/);
    const chartYaml = await readFile(join(chart, 'Chart.yaml'), 'utf8');
    const appVersion = /^appVersion: "?([^"\n]+)"?$/m.exec(chartYaml)?.[1];
    expect(deployment?.spec?.template?.spec.containers[0]?.image).toBe(`lastcall/operator:${appVersion}`);
  });

  test('values reach the objects they are for', async () => {
    const rendered = await render(
      '--set',
      'replicaCount=3,logLevel=debug,leaderElection.enabled=false,image.tag=v9,metrics.port=9443',
      '--set',
      'resources.limits.memory=512Mi,watchNamespace=team-a,concurrency=8',
    );
    const deployment = rendered.find((o) => o.kind === 'Deployment');
    const container = deployment?.spec?.template?.spec.containers[0];
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.value]));
    expect(deployment?.spec?.replicas).toBe(3);
    expect(container?.image).toBe('lastcall/operator:v9');
    expect(env).toMatchObject({
      LOG_LEVEL: 'debug',
      LEADER_ELECT: 'false',
      METRICS_PORT: '9443',
      WATCH_NAMESPACE: 'team-a',
      CONCURRENCY: '8',
    });
    expect(container).toMatchObject({ resources: { limits: { memory: '512Mi' } } });
    // No leader election, no Role for its Lease.
    expect(rendered.filter((o) => o.kind === 'Role')).toEqual([]);
    const service = rendered.find((o) => o.kind === 'Service');
    expect(service?.spec).toMatchObject({ ports: [{ port: 9443, targetPort: 'metrics' }] });
  });

  test('secure metrics: a certificate Secret is mounted for the metrics server; off, plain HTTP', async () => {
    const withSecret = await render('--set', 'metrics.certSecretName=lastcall-metrics-tls');
    const deployment = withSecret.find((o) => o.kind === 'Deployment');
    const pod = deployment?.spec?.template?.spec as unknown as {
      containers: Array<{ env: Array<{ name: string; value?: string }>; volumeMounts?: unknown[] }>;
      volumes?: unknown[];
    };
    const env = Object.fromEntries(pod.containers[0]?.env.map((e) => [e.name, e.value]) ?? []);
    expect(env).toMatchObject({
      METRICS_SECURE: 'true',
      METRICS_CERT_DIR: '/var/run/lastcall/metrics-certs',
    });
    expect(pod.volumes).toEqual([{ name: 'metrics-certs', secret: { secretName: 'lastcall-metrics-tls' } }]);
    expect(pod.containers[0]?.volumeMounts).toEqual([
      { name: 'metrics-certs', mountPath: '/var/run/lastcall/metrics-certs', readOnly: true },
    ]);

    const plain = await render(
      '--set',
      'metrics.secure=false,networkPolicy.enabled=false,prometheus.serviceMonitor.enabled=true',
    );
    const plainEnv =
      plain.find((o) => o.kind === 'Deployment')?.spec?.template?.spec.containers[0]?.env ?? [];
    expect(plainEnv).toContainEqual({ name: 'METRICS_SECURE', value: 'false' });
    expect(plain.filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
    const monitor = plain.find((o) => o.kind === 'ServiceMonitor');
    expect(monitor?.spec).toMatchObject({ endpoints: [{ port: 'metrics', path: '/metrics' }] });
    expect(JSON.stringify(monitor?.spec)).not.toContain('https');
  });

  test('another release name prefixes every name, so names never clash', async () => {
    const { stdout } = await run(helm, ['template', 'team', chart, '--namespace', 'ops', ...kubeVersion]);
    const names = objects(stdout).map((o) => o.metadata.name);
    for (const name of names) expect(name).toMatch(/^team-lastcall-/);
  });

  test('with monitoring on it renders the objects of config/prometheus', async () => {
    const rendered = await render(
      '--set',
      'prometheus.serviceMonitor.enabled=true,prometheus.podMonitor.enabled=true,prometheus.rules.enabled=true',
      '--set',
      'prometheus.rules.runbookBaseURL=https://example.test/lastcall/',
    );
    const files = ['monitor.yaml', 'workload_monitor.yaml', 'rules.yaml'];
    const config = (
      await Promise.all(files.map((f) => readFile(join(repoRoot, 'config', 'prometheus', f), 'utf8')))
    ).flatMap(objects);
    for (const kind of ['ServiceMonitor', 'PodMonitor', 'PrometheusRule']) {
      const ours = rendered.find((o) => o.kind === kind);
      const theirs = config.find((o) => o.kind === kind);
      expect(ours, kind).toBeDefined();
      let expected = JSON.stringify(theirs?.spec);
      if (kind === 'PrometheusRule') {
        expected = expected.replaceAll(
          '"runbook_url":"docs/',
          '"runbook_url":"https://example.test/lastcall/docs/',
        );
      }
      expect(ours?.spec, kind).toEqual(JSON.parse(expected));
    }
  });
});
