// Secure metrics against the real API server, as kubebuilder v4 projects serve them: /metrics over
// HTTPS, an anonymous scrape refused, a ServiceAccount's token refused until the ServiceAccount is
// bound to the lastcall-metrics-reader ClusterRole (config/rbac/metrics_reader_role.yaml), then
// allowed. The operator decides with a TokenReview and a SubjectAccessReview. The scrapes dial the
// operator's loopback port only.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../../cluster/tools.ts';
import { contentTypes } from '../../kube/client.ts';
import { waitFor } from '../../kube/poll.ts';
import { type KubeObject, type ResourceType, resourcePath } from '../../kube/resources.ts';
import { useOperatorTestbed } from './operator-testbed.ts';

const rbac = (plural: string, kind: string): ResourceType => ({
  group: 'rbac.authorization.k8s.io',
  version: 'v1',
  plural,
  kind,
  namespaced: false,
});
const clusterRoles = rbac('clusterroles', 'ClusterRole');
const serviceAccounts: ResourceType = {
  group: '',
  version: 'v1',
  plural: 'serviceaccounts',
  kind: 'ServiceAccount',
  namespaced: true,
};
const clusterRoleBindings = rbac('clusterrolebindings', 'ClusterRoleBinding');

const testbed = useOperatorTestbed({
  namespacePrefix: 'secure-metrics',
  operator: { args: ['--metrics-secure', 'true'] },
  prepare: async ({ client }) => {
    // The reader role as installed (kubectl apply -k config/default applies the same file).
    const reader = parse(
      readFileSync(join(repoRoot, 'config', 'rbac', 'metrics_reader_role.yaml'), 'utf8'),
    ) as KubeObject;
    await client.request('PATCH', resourcePath(clusterRoles, { name: reader.metadata.name }), {
      query: { fieldManager: 'lastcall-tests', force: true },
      body: reader,
      contentType: contentTypes.apply,
    });
  },
  cleanUp: async ({ client }) => {
    await client
      .request('DELETE', resourcePath(clusterRoleBindings, { name: bindingName() }))
      .catch(() => undefined);
  },
});
const bindingName = () => `lastcall-metrics-test-${testbed.namespace}`;

/** GET /metrics over HTTPS from the operator's loopback port (its certificate is self-signed). */
function scrape(token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: testbed.operator.metricsPort,
        path: '/metrics',
        rejectUnauthorized: false,
        headers: token ? { authorization: `Bearer ${token}` } : {},
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject).end();
  });
}

async function serviceAccountToken(name: string): Promise<string> {
  await testbed.client.request('POST', resourcePath(serviceAccounts, { namespace: testbed.namespace }), {
    body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } },
  });
  const review = await testbed.client.request<{ status: { token: string } }>(
    'POST',
    `${resourcePath(serviceAccounts, { namespace: testbed.namespace, name })}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 600 },
      },
    },
  );
  return review.status.token;
}

describe('secure metrics', () => {
  test('an anonymous scrape and a bad token are refused with 401', async () => {
    const anonymous = await scrape();
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).not.toContain('lastcall_');
    expect((await scrape('not-a-token')).status).toBe(401);
  });

  test('a ServiceAccount gets 403 until it is bound to lastcall-metrics-reader, then the metrics', async () => {
    const token = await serviceAccountToken('prometheus');
    const refused = await scrape(token);
    expect(refused.status).toBe(403);
    expect(refused.body).toContain(`system:serviceaccount:${testbed.namespace}:prometheus`);

    await testbed.client.request('POST', resourcePath(clusterRoleBindings), {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: bindingName() },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: 'lastcall-metrics-reader',
        },
        subjects: [{ kind: 'ServiceAccount', name: 'prometheus', namespace: testbed.namespace }],
      },
    });
    // A refusal is cached for 10 s (as controller-runtime's authorizer caches denials), and RBAC
    // takes a moment to see the new binding.
    const allowed = await waitFor(
      'the bound ServiceAccount allowed to scrape',
      async () => {
        const result = await scrape(token);
        return result.status === 200 ? result : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(allowed.body).toContain('lastcall_leader');
    expect(allowed.body).toContain('lastcall_reconcile_total');
  });
});
