/**
 * A user meets lastcall with kubectl: get (the printer columns, the short
 * names and the category), explain (the schema's descriptions), scale (the
 * scale subresource), wait --for=condition=Ready, and describe showing the
 * drain event of a pod that went away.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../../cluster/tools.ts';
import {
  connect,
  deleteCounterService,
  ensureNamespace,
  installLastcall,
  installRedis,
  kubectl,
  listPods,
} from '../../experiment/kube.ts';
import type { ClusterTarget } from '../../experiment/run.ts';
import { waitFor } from '../../kube/poll.ts';
import { e2eTarget, log, removeInClusterOperator } from './plans.ts';

const namespace = 'lastcall-e2e-kubectl';
const name = 'hello';
let target: ClusterTarget;
const k = (...args: string[]) => kubectl(target, args);

const manifest = `apiVersion: lastcall.dev/v1alpha1
kind: CounterService
metadata:
  name: ${name}
  namespace: ${namespace}
spec:
  replicas: 1
  image: lastcall/workload:v1
  redis:
    address: redis:6379
    key: kubectl-e2e
  work:
    durationSeconds: 1
`;

beforeAll(async () => {
  target = await e2eTarget();
  const cluster = await connect(target.kubeconfig, target.binDir);
  await installLastcall(cluster, log);
  await ensureNamespace(cluster, namespace);
  await installRedis(cluster, namespace, log);
  await deleteCounterService(cluster, namespace, name);
  await kubectl(target, ['apply', '-f', '-'], manifest);
});

afterAll(async () => {
  if (target) await deleteCounterService(await connect(target.kubeconfig, target.binDir), namespace, name);
  await removeInClusterOperator();
});

describe('kubectl', () => {
  test('wait --for=condition=Ready returns once the CounterService is ready', async () => {
    const out = await k(
      'wait',
      '-n',
      namespace,
      '--for=condition=Ready',
      `counterservice/${name}`,
      '--timeout=180s',
    );
    expect(out).toContain(`counterservice.lastcall.dev/${name} condition met`);
  });

  test('get shows the printer columns of the CRD, by plural, short name and category', async () => {
    const crd = parse(await readFile(join(repoRoot, 'crds', 'lastcall.dev_counterservices.yaml'), 'utf8'));
    const columns: { name: string; priority?: number }[] = crd.spec.versions[0].additionalPrinterColumns;
    const wide = await k('get', 'counterservices', '-n', namespace, '-o', 'wide');
    const header = (wide.split('\n')[0] ?? '').split(/\s{2,}/);
    expect(header).toEqual(['NAME', ...columns.map((c) => c.name.toUpperCase())]);

    // NAME READY GRACE IMAGE PHASE AGE. The row is the status of the moment: wait for the ready
    // one (a readiness probe that times out on a loaded machine briefly makes it 0/1) rather than
    // read it once.
    const readyRow = new RegExp(`^${name}\\s+1/1\\s+\\d+\\s+lastcall/workload:v1\\s+Ready\\s+\\S+$`);
    const plain = await waitFor(
      'the ready row of kubectl get csvc',
      async () => {
        const out = await k('get', 'csvc', '-n', namespace);
        return readyRow.test(out.trim().split('\n')[1] ?? '') ? out : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const [head, row] = plain.trim().split('\n');
    expect(head?.split(/\s{2,}/)).toEqual([
      'NAME',
      ...columns.filter((c) => (c.priority ?? 0) === 0).map((c) => c.name.toUpperCase()),
    ]);
    expect(row).toMatch(readyRow);
    expect(await k('get', 'lastcall', '-n', namespace, '-o', 'name')).toContain(
      `counterservice.lastcall.dev/${name}`,
    );
    expect(await k('get', 'csvc', name, '-n', namespace, '-o', 'jsonpath={.status.budget.formula}')).toMatch(
      /= \d+s/,
    );
  });

  test('explain prints the schema descriptions', async () => {
    const drain = await k('explain', 'counterservice.spec.drain');
    expect(drain).toContain('propagationSeconds');
    expect(drain).toContain('gracePeriodSecondsOverride');
    expect(drain).toMatch(/grace period/i);
    const mode = await k('explain', 'csvc.spec.drain.mode');
    expect(mode).toMatch(/Graceful/);
    expect(mode).toMatch(/Hard/);
    expect(await k('explain', 'counterservice.status.drains.recent')).toContain('pendingAtSignal');
  });

  test('scale goes through the scale subresource to the pods, and describe shows the drain of the pod removed', async () => {
    const cluster = await connect(target.kubeconfig, target.binDir);
    await k('scale', '-n', namespace, `counterservice/${name}`, '--replicas=2');
    await waitFor(
      '2 ready pods',
      async () =>
        (await listPods(cluster, namespace, name)).filter((p) => p.ready).length === 2 ? true : undefined,
      { timeoutMs: 180_000, intervalMs: 500 },
    );
    expect(await k('get', 'deployment', name, '-n', namespace, '-o', 'jsonpath={.spec.replicas}')).toBe('2');
    await k('wait', '-n', namespace, '--for=jsonpath={.status.ready}=2/2', `csvc/${name}`, '--timeout=120s');

    const before = new Set((await listPods(cluster, namespace, name)).map((p) => p.name));
    await k('scale', '-n', namespace, `counterservice.lastcall.dev/${name}`, '--replicas=1');
    const removed = await waitFor(
      'one pod to be removed',
      async () => {
        const now = new Set((await listPods(cluster, namespace, name)).map((p) => p.name));
        const gone = [...before].filter((p) => !now.has(p));
        return gone.length === 1 && now.size === 1 ? gone[0] : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );

    const describeOut = await waitFor(
      `describe to show the drain event of ${removed}`,
      async () => {
        const out = await k('describe', 'counterservice', name, '-n', namespace);
        return /Drained/.test(out) && out.includes(removed as string) ? out : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(describeOut).toMatch(new RegExp(`Normal\\s+Drained\\s+.*pod ${removed} drained`));
  });
});
