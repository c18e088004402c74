// The operator installed the way a user installs it (kubectl apply -k config/default), running in
// the cluster as pods under its own ServiceAccount: it reconciles with no permission errors, it
// holds exactly the permissions it uses (SubjectAccessReview), and it elects one leader.
// Needs a node (the local cluster's process kubelet, or kind with the image loaded).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { ensureTools, repoRoot } from '../../cluster/tools.ts';
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
const operatorNamespace = 'lastcall-system';
const serviceAccount = `system:serviceaccount:${operatorNamespace}:lastcall-operator`;
let client: KubeClient;
let kubectl: string;
let namespace: { name: string; remove: () => Promise<void> } | undefined;
let hasNode = false;

beforeAll(async () => {
  client = await adminClient(kubeconfig);
  hasNode = (await client.request<{ items: unknown[] }>('GET', '/api/v1/nodes')).items.length > 0;
  if (!hasNode) return;
  kubectl = join(await ensureTools(), 'kubectl');
  await run(kubectl, [
    '--kubeconfig',
    kubeconfig,
    'apply',
    '--server-side',
    '--force-conflicts',
    '-k',
    join(repoRoot, 'config', 'default'),
  ]);
  namespace = await testNamespace(client, 'op-incluster');
});

afterAll(async () => {
  // Remove the operator itself (other tests run their own); keep the CRDs, which they share.
  if (hasNode) await removeInClusterOperator().catch((err) => console.warn(String(err)));
  await namespace?.remove();
  await client?.close();
});

type Pod = KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } };

/** The operator's pods that are not shutting down. */
async function operatorPods(): Promise<Pod[]> {
  const list = await client.request<{ items: Pod[] }>(
    'GET',
    resourcePath(coreTypes.pod, { namespace: operatorNamespace }),
    {
      query: { labelSelector: 'app.kubernetes.io/name=lastcall,app.kubernetes.io/component=operator' },
    },
  );
  return list.items.filter((p) => !p.metadata.deletionTimestamp);
}

async function canI(
  verb: string,
  resource: string,
  opts: { group?: string; subresource?: string; namespace?: string } = {},
) {
  const review = await client.request<{ status: { allowed: boolean } }>(
    'POST',
    '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    {
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: serviceAccount,
          groups: [
            'system:serviceaccounts',
            `system:serviceaccounts:${operatorNamespace}`,
            'system:authenticated',
          ],
          resourceAttributes: {
            verb,
            resource,
            group: opts.group ?? '',
            subresource: opts.subresource,
            namespace: opts.namespace,
          },
        },
      },
    },
  );
  return review.status.allowed;
}

describe('the operator in the cluster', () => {
  test('runs from config/default, elects one leader and reconciles with no permission errors', async ({
    skip,
  }) => {
    if (!hasNode) skip('the cluster has no node to run pods');
    const ready = await waitFor(
      'two ready operator pods',
      async () => {
        const pods = await operatorPods();
        const readyPods = pods.filter((p) =>
          p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return readyPods.length === 2 ? readyPods : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 1000 },
    );
    // The Lease may be left from an earlier install (another suite's operator released it or died
    // holding it): wait until one of these pods holds it rather than reading it once.
    const names = ready.map((p) => p.metadata.name);
    const lease = await waitFor(
      'one of the ready pods to hold the leader lease',
      async () => {
        const live = await get<KubeObject & { spec?: { holderIdentity?: string } }>(
          client,
          coreTypes.lease,
          operatorNamespace,
          'lastcall-operator',
        );
        return names.includes(live?.spec?.holderIdentity ?? '') ? live : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(names).toContain(lease?.spec?.holderIdentity);

    const ns = namespace?.name ?? '';
    await create(client, counterServices, counterService('in-cluster', ns));
    await waitFor(
      'Deployment reconciled by the in-cluster operator',
      () => get(client, coreTypes.deployment, ns, 'in-cluster'),
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await waitFor('status written', async () => {
      const cs = await get(client, counterServices, ns, 'in-cluster');
      return (cs?.status as { observedGeneration?: number } | undefined)?.observedGeneration === 1;
    });

    for (const pod of ready) {
      const { stdout } = await run(kubectl, [
        '--kubeconfig',
        kubeconfig,
        'logs',
        '-n',
        operatorNamespace,
        pod.metadata.name ?? '',
      ]);
      // Every failed request is logged with the API error; an RBAC denial reads 'User
      // "system:serviceaccount:..." cannot patch resource "deployments"...'. (A 403 for a namespace
      // being terminated, which other tests delete, is not a permission problem.)
      const denied = stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          try {
            return JSON.parse(line) as { level?: number; msg?: string; err?: string };
          } catch {
            return { msg: line };
          }
        })
        .filter((entry) =>
          /cannot \w+ resource|\b401\b|unauthorized/i.test(`${entry.msg ?? ''} ${entry.err ?? ''}`),
        );
      expect(denied, `permission errors in the log of ${pod.metadata.name}`).toEqual([]);
    }
  });

  test('its ServiceAccount may do what the operator does and nothing more', async ({ skip }) => {
    if (!hasNode) skip('the cluster has no node to run pods');
    const ns = namespace?.name ?? 'default';
    const allowed: Array<[string, string, { group?: string; subresource?: string; namespace?: string }]> = [
      ['list', 'counterservices', { group: 'lastcall.dev' }],
      ['watch', 'counterservices', { group: 'lastcall.dev' }],
      ['patch', 'counterservices', { group: 'lastcall.dev', subresource: 'status', namespace: ns }],
      ['list', 'drainpolicies', { group: 'lastcall.dev' }],
      ['create', 'deployments', { group: 'apps', namespace: ns }],
      ['patch', 'deployments', { group: 'apps', namespace: ns }],
      ['patch', 'services', { namespace: ns }],
      ['patch', 'poddisruptionbudgets', { group: 'policy', namespace: ns }],
      ['get', 'services', { namespace: ns }],
      ['get', 'deployments', { group: 'apps', namespace: ns }],
      ['get', 'poddisruptionbudgets', { group: 'policy', namespace: ns }],
      ['watch', 'pods', {}],
      ['list', 'namespaces', {}],
      ['create', 'events', { namespace: ns }],
      ['update', 'leases', { group: 'coordination.k8s.io', namespace: operatorNamespace }],
      // Secure metrics: who is scraping, and may they (operator/runtime/metrics-auth.ts).
      ['create', 'tokenreviews', { group: 'authentication.k8s.io' }],
      ['create', 'subjectaccessreviews', { group: 'authorization.k8s.io' }],
    ];
    const forbidden: typeof allowed = [
      ['update', 'counterservices', { group: 'lastcall.dev', namespace: ns }],
      ['delete', 'counterservices', { group: 'lastcall.dev', namespace: ns }],
      ['delete', 'deployments', { group: 'apps', namespace: ns }],
      ['create', 'pods', { namespace: ns }],
      ['delete', 'pods', { namespace: ns }],
      ['get', 'secrets', { namespace: ns }],
      ['list', 'secrets', {}],
      ['update', 'drainpolicies', { group: 'lastcall.dev' }],
      ['update', 'leases', { group: 'coordination.k8s.io', namespace: ns }],
      ['escalate', 'clusterroles', { group: 'rbac.authorization.k8s.io' }],
    ];
    for (const [verb, resource, opts] of allowed)
      expect(await canI(verb, resource, opts), `${verb} ${resource}`).toBe(true);
    for (const [verb, resource, opts] of forbidden)
      expect(await canI(verb, resource, opts), `${verb} ${resource}`).toBe(false);
  });
});
