// lastcall installed the other ways a cluster admin installs operators, on the local cluster: the
// Helm chart (helm lint is a unit test; here helm install, helm upgrade, helm uninstall) and the
// single manifest (kubectl apply -f dist/install.yaml). Each must give a working operator: its
// pods get ready, one of them holds the Lease, and it reconciles a CounterService.
// helm is the real binary, built from its Go module (cluster/tools/build-ops.sh).
// Needs a node (the local cluster's process kubelet, or kind with the image loaded).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { loopbackTwin } from '../../cluster/addresses.ts';
import { ensureOpsTools, ensureTools, repoRoot } from '../../cluster/tools.ts';
import type { KubeClient } from '../../kube/client.ts';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes, type KubeObject, resourcePath } from '../../kube/resources.ts';
import { removeInClusterOperator } from '../e2e/plans.ts';
import {
  adminClient,
  counterService,
  counterServices,
  create,
  get,
  testNamespace,
} from './operator-harness.ts';

const run = promisify(execFile);
const kubeconfig = inject('kubeconfig');
const chart = join(repoRoot, 'charts', 'lastcall');
// A release name of its own: its cluster-scoped RBAC (lastcall-helm-test-operator) never meets the
// objects config/default leaves behind for the other suites.
const release = 'lastcall-helm-test';
const releaseNamespace = 'lastcall-helm-test';

let client: KubeClient;
let helmBin: string;
let kubectlBin: string;
let helmHome: string;
let namespace: { name: string; remove: () => Promise<void> } | undefined;
let hasNode = false;

const operatorSelector = 'app.kubernetes.io/name=lastcall,app.kubernetes.io/component=operator';

beforeAll(async () => {
  client = await adminClient(kubeconfig);
  hasNode = (await client.request<{ items: unknown[] }>('GET', '/api/v1/nodes')).items.length > 0;
  if (!hasNode) return;
  [helmBin, kubectlBin] = await Promise.all([
    ensureOpsTools().then((bin) => join(bin, 'helm')),
    ensureTools().then((bin) => join(bin, 'kubectl')),
  ]);
  // Helm's own configuration and cache, private to this run.
  helmHome = await mkdtemp(join(tmpdir(), 'lastcall-helm-'));
  // Another suite's in-cluster operator would reconcile what this one creates.
  await removeInClusterOperator();
  await helm(['uninstall', release, '--namespace', releaseNamespace, '--ignore-not-found', '--wait']);
  namespace = await testNamespace(client, 'op-install');
}, 1_800_000);

afterAll(async () => {
  if (hasNode) {
    await helm(['uninstall', release, '--namespace', releaseNamespace, '--ignore-not-found', '--wait']).catch(
      (err) => console.warn(String(err)),
    );
    await removeInClusterOperator().catch((err) => console.warn(String(err)));
    await client
      .request('DELETE', resourcePath(coreTypes.namespace, { name: releaseNamespace }))
      .catch(() => undefined);
  }
  await namespace?.remove();
  if (helmHome) await rm(helmHome, { recursive: true, force: true });
  await client?.close();
});

async function helm(args: string[]): Promise<string> {
  const { stdout } = await run(helmBin, ['--kubeconfig', kubeconfig, ...args], {
    env: {
      ...process.env,
      HELM_CONFIG_HOME: join(helmHome, 'config'),
      HELM_CACHE_HOME: join(helmHome, 'cache'),
      HELM_DATA_HOME: join(helmHome, 'data'),
    },
  });
  return stdout;
}

type Pod = KubeObject & {
  spec?: { containers?: Array<{ env?: Array<{ name: string; value?: string }> }> };
  status?: { podIP?: string; conditions?: Array<{ type: string; status: string }> };
};

/** GET https://<pod>:9090/metrics on the pod IP's loopback twin (the local cluster's pods listen there). */
function scrapePod(pod: Pod, token?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: loopbackTwin(pod.status?.podIP ?? ''),
        port: 9090,
        path: '/metrics',
        rejectUnauthorized: false, // self-signed, as the ServiceMonitor's insecureSkipVerify
        headers: token ? { authorization: `Bearer ${token}` } : {},
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject).end();
  });
}

/** A ServiceAccount in the test namespace bound to lastcall-metrics-reader, and its token. */
async function metricsReaderToken(): Promise<{ token: string; unbind: () => Promise<void> }> {
  const ns = namespace?.name ?? '';
  const accounts = coreTypes.serviceAccount;
  const bindings = coreTypes.clusterRoleBinding;
  await client.request('POST', resourcePath(accounts, { namespace: ns }), {
    body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'scraper' } },
  });
  const name = `lastcall-metrics-scraper-${ns}`;
  await client.request('POST', resourcePath(bindings), {
    body: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: 'lastcall-metrics-reader',
      },
      subjects: [{ kind: 'ServiceAccount', name: 'scraper', namespace: ns }],
    },
  });
  const review = await client.request<{ status: { token: string } }>(
    'POST',
    `${resourcePath(accounts, { namespace: ns, name: 'scraper' })}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 600 },
      },
    },
  );
  return {
    token: review.status.token,
    unbind: () =>
      client.request('DELETE', resourcePath(bindings, { name })).then(
        () => undefined,
        () => undefined,
      ),
  };
}

async function operatorPods(ns: string): Promise<Pod[]> {
  const list = await client.request<{ items: Pod[] }>('GET', resourcePath(coreTypes.pod, { namespace: ns }), {
    query: { labelSelector: operatorSelector },
  });
  return list.items.filter((p) => !p.metadata.deletionTimestamp);
}

/**
 * Waits for `replicas` ready operator pods in `ns` (all matching `podMatches`), one of which holds
 * the Lease, then creates a CounterService and waits for the operator to reconcile it.
 */
async function expectWorkingOperator(
  ns: string,
  replicas: number,
  csName: string,
  podMatches: (pod: Pod) => boolean = () => true,
): Promise<Pod[]> {
  const ready = await waitFor(
    `${replicas} ready operator pod(s) in ${ns}`,
    async () => {
      const pods = await operatorPods(ns);
      const readyPods = pods.filter(
        (p) => podMatches(p) && p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      return readyPods.length === replicas && pods.length === replicas ? readyPods : undefined;
    },
    { timeoutMs: 180_000, intervalMs: 1000 },
  );
  const names = ready.map((p) => p.metadata.name);
  await waitFor(
    `one of the ready pods in ${ns} to hold the leader lease`,
    async () => {
      const lease = await get<KubeObject & { spec?: { holderIdentity?: string } }>(
        client,
        coreTypes.lease,
        ns,
        'lastcall-operator',
      );
      return names.includes(lease?.spec?.holderIdentity ?? '') ? lease : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  const csNamespace = namespace?.name ?? '';
  await create(client, counterServices, counterService(csName, csNamespace, { replicas: 0 }));
  await waitFor(
    `Deployment ${csName} reconciled by the operator in ${ns}`,
    () => get(client, coreTypes.deployment, csNamespace, csName),
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  await waitFor(`status of ${csName} written`, async () => {
    const cs = await get(client, counterServices, csNamespace, csName);
    return (cs?.status as { observedGeneration?: number } | undefined)?.observedGeneration === 1;
  });
  return ready;
}

const envOf = (pod: Pod, name: string) => pod.spec?.containers?.[0]?.env?.find((e) => e.name === name)?.value;

describe('the Helm chart on the local cluster', () => {
  test('helm install gives a working operator', async ({ skip }) => {
    if (!hasNode) skip('the cluster has no node to run pods');
    await helm(['install', release, chart, '--namespace', releaseNamespace, '--create-namespace']);
    await expectWorkingOperator(releaseNamespace, 2, 'from-helm-install');
    const status = JSON.parse(await helm(['status', release, '--namespace', releaseNamespace, '-o', 'json']));
    expect(status).toMatchObject({ info: { status: 'deployed' }, version: 1 });
  });

  test('helm upgrade rolls the operator to the new values, and it keeps working', async ({ skip }) => {
    if (!hasNode) skip('the cluster has no node to run pods');
    await helm([
      'upgrade',
      release,
      chart,
      '--namespace',
      releaseNamespace,
      '--reuse-values',
      '--set',
      'replicaCount=1,logLevel=debug',
    ]);
    await expectWorkingOperator(
      releaseNamespace,
      1,
      'from-helm-upgrade',
      (pod) => envOf(pod, 'LOG_LEVEL') === 'debug',
    );
    const status = JSON.parse(await helm(['status', release, '--namespace', releaseNamespace, '-o', 'json']));
    expect(status).toMatchObject({ info: { status: 'deployed' }, version: 2 });
  });

  test('helm uninstall removes the operator and its RBAC, and keeps the CRDs and CounterServices', async ({
    skip,
  }) => {
    if (!hasNode) skip('the cluster has no node to run pods');
    await helm(['uninstall', release, '--namespace', releaseNamespace, '--wait']);
    await waitFor(
      'the Helm-installed operator pods to be gone',
      async () => ((await operatorPods(releaseNamespace)).length === 0 ? true : undefined),
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    const clusterRole = await get(
      client,
      {
        group: 'rbac.authorization.k8s.io',
        version: 'v1',
        plural: 'clusterroles',
        kind: 'ClusterRole',
        namespaced: false,
      },
      undefined,
      `${release}-operator`,
    );
    expect(clusterRole).toBeUndefined();
    expect(await get(client, counterServices, namespace?.name, 'from-helm-install')).toBeDefined();
  });
});

describe('the single manifest on the local cluster', () => {
  test('kubectl apply -f dist/install.yaml gives a working operator, with secure metrics', async ({
    skip,
  }) => {
    if (!hasNode) skip('the cluster has no node to run pods');
    await run(kubectlBin, [
      '--kubeconfig',
      kubeconfig,
      'apply',
      '--server-side',
      '--force-conflicts',
      '-f',
      join(repoRoot, 'dist', 'install.yaml'),
    ]);
    const pods = await expectWorkingOperator('lastcall-system', 2, 'from-install-yaml');

    // Its metrics are secure in the cluster too: its ServiceAccount may review tokens and access.
    const pod = pods[0] as Pod;
    expect(await scrapePod(pod)).toBe(401);
    const reader = await metricsReaderToken();
    try {
      await waitFor(
        'a scrape with a lastcall-metrics-reader token allowed',
        async () => ((await scrapePod(pod, reader.token)) === 200 ? true : undefined),
        { timeoutMs: 30_000, intervalMs: 500 },
      );
    } finally {
      await reader.unbind();
    }
  });
});
