// npm run bench:operator — how fast and how frugal the operator is against a real API server.
//
//   latency     create a CounterService -> its Deployment exists (watched), one at a time: p50, p99
//   converge    N CounterServices created at once -> every one has Deployment, Service, PDB, status
//   rss         operator resident memory with N CounterServices (and their owned objects) cached
//   requests    API requests per reconcile while converging (lease renewals excluded)
//   steady      writes per minute once converged, and writes by a restarted operator resyncing all N
//
// Starts its own control plane (no node: pods stay Pending, which is fine, the operator never waits
// for them) in .lastcall/bench-operator, unless --kubeconfig names a cluster.
// Flags: --count N (1000) --latency-samples N (100) --steady-seconds S (60) --concurrency N (8)
//        --replicas N (0) --kubeconfig PATH --keep (leave the control plane running)
// Replicas default to 0: without a node no pod could run anyway, and a thousand Pending pods only
// add the controller-manager's and scheduler's churn to the API server the operator is timed on.
// The operator's work per CounterService is the same (Deployment, Service, PDB, status).
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { parse as parseYaml } from 'yaml';
import { down, up } from '../../cluster/launcher.ts';
import { repoRoot } from '../../cluster/tools.ts';
import { connectKube } from '../../kube/connect.ts';
import { deleteNamespace, ensureNamespace } from '../../kube/namespaces.ts';
import { waitFor } from '../../kube/poll.ts';
import { Reflector } from '../../kube/reflector.ts';
import { coreTypes, type KubeObject, type ResourceType, resourcePath } from '../../kube/resources.ts';
import {
  counterServices,
  installCrds,
  spawnOperator,
  sumMetric,
} from '../../test/operator/operator-harness.ts';

const { values: flags } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    'latency-samples': { type: 'string', default: '100' },
    'steady-seconds': { type: 'string', default: '60' },
    concurrency: { type: 'string', default: '8' },
    replicas: { type: 'string', default: '0' },
    kubeconfig: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
// Measure the operator as config/manager/manager.yaml runs it: that manifest's NODE_OPTIONS (a
// smaller V8 young generation) is what keeps RSS down after a resync burst, so the bench takes it
// from there rather than from a copy. LASTCALL_BENCH_NODE_OPTIONS overrides it ('' for Node's defaults).
process.env.NODE_OPTIONS = process.env.LASTCALL_BENCH_NODE_OPTIONS ?? managerNodeOptions();

function managerNodeOptions(): string {
  const manifest = parseYaml(readFileSync(join(repoRoot, 'config', 'manager', 'manager.yaml'), 'utf8')) as {
    spec?: {
      template?: { spec?: { containers?: Array<{ env?: Array<{ name: string; value?: string }> }> } };
    };
  };
  const env = manifest.spec?.template?.spec?.containers?.[0]?.env ?? [];
  return env.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
}

const count = positive('count');
const latencySamples = positive('latency-samples');
const steadySeconds = positive('steady-seconds');
const concurrency = positive('concurrency');
const replicas = Number(flags.replicas);

function positive(flag: 'count' | 'latency-samples' | 'steady-seconds' | 'concurrency'): number {
  const text = flags[flag] as string;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--${flag}=${JSON.stringify(text)}: must be a positive integer\n`);
    process.exit(2);
  }
  return n;
}

const stateDir = join(repoRoot, '.lastcall', 'bench-operator');
const say = (line: string) => process.stderr.write(`[bench] ${line}\n`);

let kubeconfig = flags.kubeconfig;
let startedCluster = false;
if (!kubeconfig) {
  say('starting a control plane (no node) in .lastcall/bench-operator');
  const cluster = await up({ stateDir, components: 'control-plane', onProgress: (l) => say(l) });
  kubeconfig = cluster.kubeconfig;
  startedCluster = true;
}

const client = await connectKube({ kubeconfig, userAgent: 'lastcall-bench' });
await installCrds(client, 'lastcall-bench');
const runId = Date.now().toString(36);
const latencyNs = await namespace(`bench-latency-${runId}`);
const scaleNs = await namespace(`bench-scale-${runId}`);

let operator = await startOperator();
const results: Record<string, number | string> = {};
try {
  // --- latency: one at a time, the Deployment's ADDED event timed by a watch.
  const deployments = new Reflector<KubeObject>({
    client,
    type: coreTypes.deployment,
    namespace: latencyNs,
    log: pino({ level: 'silent' }),
  });
  const seenAt = new Map<string, number>();
  deployments.onChange((change) => {
    if (change.type === 'added') seenAt.set(change.object.metadata.name ?? '', performance.now());
  });
  deployments.start();
  await deployments.waitForSync();
  // The API server builds its server-side apply type information for a kind on first use (about
  // two seconds on a fresh control plane): one warm-up CounterService, not counted.
  await createCounterService(latencyNs, 'warm-up');
  await waitFor('Deployment warm-up', () => seenAt.has('warm-up'), { timeoutMs: 30_000, intervalMs: 2 });
  const latencies: number[] = [];
  say(`latency: ${latencySamples} CounterServices, one at a time`);
  for (let i = 0; i < latencySamples; i++) {
    const name = `lat-${i}`;
    const started = performance.now();
    await createCounterService(latencyNs, name);
    await waitFor(`Deployment ${name}`, () => seenAt.has(name), { timeoutMs: 10_000, intervalMs: 2 });
    latencies.push((seenAt.get(name) ?? 0) - started);
  }
  await deployments.stop();
  latencies.sort((a, b) => a - b);
  results['create -> Deployment p50 (ms)'] = round(percentile(latencies, 0.5));
  results['create -> Deployment p99 (ms)'] = round(percentile(latencies, 0.99));
  results['create -> Deployment max (ms)'] = round(latencies.at(-1) ?? 0);

  // --- converge N at once.
  const before = await requestCounts();
  const cpuBefore = cpuSeconds(operator);
  say(`converge: ${count} CounterServices created with 16 requests in flight`);
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < count) {
        const i = next++;
        await createCounterService(scaleNs, `cs-${i}`);
      }
    }),
  );
  const createdMs = performance.now() - started;
  let rssPeakKb = 0;
  await waitFor(
    'convergence',
    async () => {
      rssPeakKb = Math.max(rssPeakKb, rssKb(operator));
      return (await convergedCount(scaleNs)) >= count;
    },
    { timeoutMs: 600_000, intervalMs: 500 },
  );
  const convergeMs = performance.now() - started;
  const after = await requestCounts();
  const reconciles = after.reconciles - before.reconciles;
  results['operator CPU while converging (s)'] = round(cpuSeconds(operator) - cpuBefore, 1);
  results['mean server-side apply latency (ms)'] = round(
    ((after.applySeconds - before.applySeconds) / Math.max(1, after.applies - before.applies)) * 1000,
  );
  results[`${count} created in (s)`] = round(createdMs / 1000, 1);
  results[`${count} converged in (s)`] = round(convergeMs / 1000, 1);
  results['API requests per reconcile'] = round((after.requests - before.requests) / reconciles, 2);
  results['writes per CounterService'] = round((after.writes - before.writes) / count, 2);
  results['reconciles per CounterService'] = round(reconciles / count, 2);
  results[`operator RSS with ${count + latencySamples + 1} (MB)`] = round(rssKb(operator) / 1024);
  results['operator RSS peak while converging (MB)'] = round(Math.max(rssPeakKb, rssKb(operator)) / 1024);

  // --- steady state: once the Deployment controller has caught up with every Deployment and each
  // status shows it, nothing changes, so nothing may be written.
  say('waiting for the Deployment controller and the operator to settle');
  const settleStarted = performance.now();
  await waitFor(
    'Deployments settled',
    async () => (await unsettled(scaleNs)) === 0 && (await unsettled(latencyNs)) === 0,
    { timeoutMs: 600_000, intervalMs: 1000 },
  );
  // The operator has caught up once its queue is empty and it reconciled nothing for 5 s.
  let last = -1;
  let quietSince = performance.now();
  await waitFor(
    'the operator to go quiet',
    async () => {
      const counts = await requestCounts();
      if (counts.reconciles !== last || counts.depth > 0) {
        last = counts.reconciles;
        quietSince = performance.now();
      }
      return performance.now() - quietSince >= 5000;
    },
    { timeoutMs: 600_000, intervalMs: 500 },
  );
  results['settled (everything quiet) after (s)'] = round(
    (convergeMs + performance.now() - settleStarted - 5000) / 1000,
    1,
  );
  say(`steady state: ${steadySeconds} s`);
  const steadyBefore = await requestCounts();
  await sleep(steadySeconds * 1000);
  const steadyAfter = await requestCounts();
  results['steady-state writes per minute'] = round(
    ((steadyAfter.writes - steadyBefore.writes) * 60) / steadySeconds,
    2,
  );
  for (const [kind, n] of steadyAfter.byKind) {
    const delta = n - (steadyBefore.byKind.get(kind) ?? 0);
    if (delta > 0) say(`steady-state write: ${kind} x${delta}`);
  }
  results['steady-state reconciles'] = steadyAfter.reconciles - steadyBefore.reconciles;

  // --- restart: a full resync of everything writes nothing.
  say('restart: a new operator resyncs everything');
  await stopOperator(operator);
  const restartedAt = performance.now();
  operator = await startOperator();
  const total = count + latencySamples + 1;
  await waitFor('resync after restart', async () => (await requestCounts()).reconciles >= total, {
    timeoutMs: 120_000,
    intervalMs: 250,
  });
  const resync = await requestCounts();
  results[`restart: resync of ${total} (s)`] = round((performance.now() - restartedAt) / 1000, 1);
  results['restart: writes during resync'] = resync.writes;
  for (const [kind, n] of resync.byKind) say(`restart write: ${kind} x${n}`);
  results[`operator RSS after resync of ${total} (MB)`] = round(rssKb(operator) / 1024);
  results['operator JS heap used after resync (MB)'] = round((await heapUsedBytes()) / 2 ** 20);
  // V8 keeps the heap it grew during the resync burst until its memory reducer runs on idle.
  await sleep(30_000);
  results['operator RSS 30 s after resync (MB)'] = round(rssKb(operator) / 1024);
} finally {
  await stopOperator(operator);
  await deleteNamespace(client, latencyNs).catch(() => undefined);
  await deleteNamespace(client, scaleNs).catch(() => undefined);
  await client.close();
  if (startedCluster && !flags.keep) await down({ stateDir, onProgress: (l) => say(l) });
}

const width = Math.max(...Object.keys(results).map((k) => k.length));
const goals: Record<string, string> = {
  'create -> Deployment p50 (ms)': '<= 100',
  'create -> Deployment p99 (ms)': '<= 500',
  [`${count} converged in (s)`]: '<= 60',
  [`operator RSS with ${count + latencySamples + 1} (MB)`]: '<= 200',
  'steady-state writes per minute': '0',
  'restart: writes during resync': '0',
};
const lines = [
  `| ${'measure'.padEnd(width)} | value    | goal   |`,
  `| ${'-'.repeat(width)} | -------- | ------ |`,
  ...Object.entries(results).map(
    ([k, v]) => `| ${k.padEnd(width)} | ${String(v).padStart(8)} | ${(goals[k] ?? '').padEnd(6)} |`,
  ),
];
process.stdout.write(`${lines.join('\n')}\noperator NODE_OPTIONS: ${process.env.NODE_OPTIONS || '(none)'}\n`);
mkdirSync(stateDir, { recursive: true });
writeFileSync(
  join(stateDir, 'results.json'),
  JSON.stringify({ at: new Date().toISOString(), count, latencySamples, concurrency, results }, null, 2),
);

// ---------------------------------------------------------------------------------------------

async function startOperator(): Promise<Operator> {
  const child = spawnOperator(
    kubeconfig as string,
    ['--lease-name', `lastcall-bench-${runId}`, '--concurrency', String(concurrency)],
    'inherit',
  );
  const metricsPort = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`operator exited with ${code}`)));
    let buffered = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      if (buffered === undefined) return;
      buffered += chunk;
      for (const line of buffered.split('\n')) {
        if (!line.includes('"listening"')) continue;
        resolve(Number((JSON.parse(line) as { metricsPort: number }).metricsPort));
      }
      buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
    });
  });
  return { child, metricsPort };
}

interface Operator {
  child: ChildProcess;
  metricsPort: number;
}

async function stopOperator(op: Operator): Promise<void> {
  if (op.child.exitCode !== null) return;
  const exited = new Promise((resolve) => op.child.once('exit', resolve));
  op.child.kill('SIGTERM');
  await exited;
}

function rssKb(op: Operator): number {
  try {
    const status = readFileSync(`/proc/${op.child.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

async function operatorMetrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${operator.metricsPort}/metrics`)).text();
}

/**
 * Requests by the current operator: all but watches and lease renewals; writes; reconciles; the
 * time its server-side applies took and their number. One scrape, so the figures belong together.
 */
async function requestCounts(): Promise<{
  requests: number;
  writes: number;
  reconciles: number;
  byKind: Map<string, number>;
  depth: number;
  applySeconds: number;
  applies: number;
}> {
  const text = await operatorMetrics();
  let requests = 0;
  let writes = 0;
  let reconciles = 0;
  const byKind = new Map<string, number>();
  let depth = 0;
  for (const line of text.split('\n')) {
    const sample = /^(\w+)\{([^}]*)\}\s+(\S+)$/.exec(line);
    if (!sample) continue;
    const [, name, labelText = '', value] = sample;
    const labels = Object.fromEntries([...labelText.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (name === 'lastcall_reconcile_total') reconciles += Number(value);
    if (name === 'lastcall_workqueue_depth') depth += Number(value);
    if (name !== 'lastcall_api_requests_total' || labels.resource === 'leases' || labels.verb === 'watch')
      continue;
    requests += Number(value);
    if (['create', 'update', 'patch', 'apply', 'delete'].includes(labels.verb ?? '')) {
      writes += Number(value);
      byKind.set(`${labels.verb} ${labels.resource} ${labels.code}`, Number(value));
    }
  }
  return {
    requests,
    writes,
    reconciles,
    byKind,
    depth,
    applySeconds: sumMetric(text, 'lastcall_api_request_duration_seconds_sum', { verb: 'apply' }),
    applies: sumMetric(text, 'lastcall_api_request_duration_seconds_count', { verb: 'apply' }),
  };
}

/** user + system CPU time of the operator process, from /proc/<pid>/stat (clock ticks of 10 ms). */
function cpuSeconds(op: Operator): number {
  try {
    const fields = readFileSync(`/proc/${op.child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

async function heapUsedBytes(): Promise<number> {
  return sumMetric(await operatorMetrics(), 'lastcall_operator_nodejs_heap_size_used_bytes', {});
}

/** CounterServices whose Deployment the Deployment controller has not caught up with, or whose
 * status does not yet show the Deployment's status. */
async function unsettled(ns: string): Promise<number> {
  type Counts = { observedGeneration?: number; replicas?: number; updatedReplicas?: number };
  const [list, deployments] = await Promise.all([
    client.request<{ items: Array<KubeObject & { status?: Counts }> }>(
      'GET',
      resourcePath(counterServices, { namespace: ns }),
    ),
    client.request<{ items: Array<KubeObject & { status?: Counts }> }>(
      'GET',
      resourcePath(coreTypes.deployment, { namespace: ns }),
    ),
  ]);
  const byName = new Map(deployments.items.map((d) => [d.metadata.name, d]));
  return list.items.filter((cs) => {
    const d = byName.get(cs.metadata.name);
    if (!d || d.status?.observedGeneration !== d.metadata.generation) return true;
    return (
      (cs.status?.replicas ?? 0) !== (d.status?.replicas ?? 0) ||
      (cs.status?.updatedReplicas ?? 0) !== (d.status?.updatedReplicas ?? 0)
    );
  }).length;
}

async function convergedCount(ns: string): Promise<number> {
  const [list, deployments, services, pdbs] = await Promise.all([
    client.request<{ items: Array<KubeObject & { status?: { observedGeneration?: number } }> }>(
      'GET',
      resourcePath(counterServices, { namespace: ns }),
    ),
    countOf(coreTypes.deployment, ns),
    countOf(coreTypes.service, ns),
    countOf(coreTypes.podDisruptionBudget, ns),
  ]);
  const withStatus = list.items.filter(
    (cs) => cs.status?.observedGeneration === cs.metadata.generation,
  ).length;
  return Math.min(withStatus, deployments, services, pdbs);
}

async function countOf(type: ResourceType, ns: string): Promise<number> {
  const list = await client.request<{ items: unknown[] }>('GET', resourcePath(type, { namespace: ns }), {
    query: { labelSelector: 'app.kubernetes.io/managed-by=lastcall' },
  });
  return list.items.length;
}

async function createCounterService(ns: string, name: string): Promise<void> {
  await client.request('POST', resourcePath(counterServices, { namespace: ns }), {
    body: {
      apiVersion: 'lastcall.dev/v1alpha1',
      kind: 'CounterService',
      metadata: { name, namespace: ns },
      spec: {
        replicas,
        image: 'lastcall/workload:v1',
        redis: { address: 'redis:6379', key: name },
        work: { durationSeconds: 5 },
        drain: { propagationSeconds: 5 },
      },
    },
  });
}

async function namespace(name: string): Promise<string> {
  await ensureNamespace(client, name);
  return name;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number;
}

function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
