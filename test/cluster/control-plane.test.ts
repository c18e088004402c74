// The control plane of the cluster the "cluster" project runs against
// (test/support/cluster-setup.ts): the controllers the operator relies on work.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureTools } from '../../cluster/tools.ts';
import { KubeClient } from '../../kube/client.ts';
import { connectKube } from '../../kube/connect.ts';
import { ApiError, isNotFound } from '../../kube/errors.ts';
import { kubeconfigCredentials } from '../../kube/kubeconfig.ts';
import { deleteNamespace, ensureNamespace } from '../../kube/namespaces.ts';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes, type KubeObject, resourcePath } from '../../kube/resources.ts';

const kubeconfig = inject('kubeconfig');
const local = (process.env.LASTCALL_E2E_KUBECONFIG ?? '') === '';
const client = await connectKube({ kubeconfig, userAgent: 'lastcall-control-plane-tests' });
const namespace = `lc-control-plane-${randomBytes(3).toString('hex')}`;

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

/** The object, or undefined once the API server answers 404. */
async function unlessGone<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

const readNamespace = (name: string) =>
  client.get<KubeObject & { status?: { phase?: string } }>(resourcePath(coreTypes.namespace, { name }));
const readConfigMap = (ns: string, name: string) =>
  client.get<ConfigMap>(resourcePath(coreTypes.configMap, { namespace: ns, name }));
const createConfigMap = (ns: string, body: ConfigMap) =>
  client.request<ConfigMap>('POST', resourcePath(coreTypes.configMap, { namespace: ns }), { body });

beforeAll(async () => {
  await ensureNamespace(client, namespace);
});

afterAll(async () => {
  await deleteNamespace(client, namespace);
  await client.close();
});

describe('control plane', () => {
  it('creates a namespace with its default ServiceAccount and root CA, and deletes it completely', async () => {
    const name = `lc-ns-${randomBytes(3).toString('hex')}`;
    expect(await ensureNamespace(client, name)).toBe('created');
    // serviceaccount controller and root-ca-cert-publisher (kube-controller-manager)
    await waitFor(
      'the default ServiceAccount',
      () =>
        unlessGone(() =>
          client.get(resourcePath(coreTypes.serviceAccount, { namespace: name, name: 'default' })),
        ),
      { intervalMs: 200 },
    );
    const rootCa = await waitFor(
      'the kube-root-ca.crt ConfigMap',
      () => unlessGone(() => readConfigMap(name, 'kube-root-ca.crt')),
      { intervalMs: 200 },
    );
    expect(rootCa.data?.['ca.crt']).toContain('BEGIN CERTIFICATE');
    await createConfigMap(name, { metadata: { name: 'content' }, data: { a: '1' } });

    expect(await deleteNamespace(client, name)).toBe(true);
    const terminating = await unlessGone(() => readNamespace(name));
    // The namespace controller empties the namespace, then removes the `kubernetes` finalizer.
    if (terminating !== undefined) expect(terminating.status?.phase).toBe('Terminating');
    await waitFor(
      `namespace ${name} to be gone`,
      async () => ((await unlessGone(() => readNamespace(name))) === undefined ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  });

  it.each(['Background', 'Foreground'] as const)(
    'garbage collector deletes a ConfigMap owned by a deleted ConfigMap (%s propagation)',
    async (propagationPolicy) => {
      const ownerName = `owner-${propagationPolicy.toLowerCase()}`;
      const owner = await createConfigMap(namespace, { metadata: { name: ownerName } });
      const dependent: ConfigMap = {
        metadata: {
          name: `dependent-${propagationPolicy.toLowerCase()}`,
          ownerReferences: [
            {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              name: ownerName,
              uid: owner.metadata.uid ?? '',
              blockOwnerDeletion: true,
            },
          ],
        },
      };
      await createConfigMap(namespace, dependent);
      const dependentName = dependent.metadata.name ?? '';

      await client.request('DELETE', resourcePath(coreTypes.configMap, { namespace, name: ownerName }), {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy },
      });
      if (propagationPolicy === 'Foreground') {
        // Foreground: the owner stays, with the foregroundDeletion finalizer, until its dependents are gone.
        const stillThere = await unlessGone(() => readConfigMap(namespace, ownerName));
        if (stillThere !== undefined) expect(stillThere.metadata.finalizers).toContain('foregroundDeletion');
      }
      await waitFor(
        'the dependent ConfigMap to be collected',
        async () =>
          (await unlessGone(() => readConfigMap(namespace, dependentName))) === undefined ? true : undefined,
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      await waitFor(
        'the owner ConfigMap to be gone',
        async () =>
          (await unlessGone(() => readConfigMap(namespace, ownerName))) === undefined ? true : undefined,
        { timeoutMs: 60_000, intervalMs: 200 },
      );
    },
  );

  it('issues ServiceAccount tokens through TokenRequest, and RBAC applies to them', async () => {
    const serviceAccount = 'lc-token';
    await client.request('POST', resourcePath(coreTypes.serviceAccount, { namespace }), {
      body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: serviceAccount } },
    });
    const request = await client.request<{ status?: { token?: string } }>(
      'POST',
      resourcePath(coreTypes.serviceAccount, { namespace, name: serviceAccount, subresource: 'token' }),
      {
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { audiences: [], expirationSeconds: 600 },
        },
      },
    );
    const token = request.status?.token ?? '';
    expect(token.split('.')).toHaveLength(3); // a JWT

    // The same server and CA, the ServiceAccount's bearer token instead of the admin certificate.
    const { server, tls } = kubeconfigCredentials(kubeconfig);
    const asServiceAccount = await KubeClient.connect(
      { server, tls: { ca: tls.ca }, headers: async () => ({ authorization: `Bearer ${token}` }) },
      { userAgent: 'lastcall-control-plane-tests' },
    );
    const review = await asServiceAccount.request<{ status?: { userInfo?: { username?: string } } }>(
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' } },
    );
    expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${namespace}:${serviceAccount}`);

    // No RoleBinding grants it anything: RBAC says 403.
    const listing = asServiceAccount.get(resourcePath(coreTypes.secret, { namespace })).then(
      () => 'allowed',
      (error: unknown) => (error instanceof ApiError ? error.code : error),
    );
    expect(await listing).toBe(403);
    await asServiceAccount.close();
  });

  it('kubectl is v1.37.2 and so is the local API server', async () => {
    const binDir = await ensureTools();
    const { stdout } = await promisify(execFile)(join(binDir, 'kubectl'), ['version', '-o', 'json'], {
      env: { ...process.env, KUBECONFIG: kubeconfig },
    });
    const versions = JSON.parse(stdout) as {
      clientVersion: { gitVersion: string };
      serverVersion?: { gitVersion: string };
    };
    expect(versions.clientVersion.gitVersion).toBe('v1.37.2');
    if (local) expect(versions.serverVersion?.gitVersion).toBe('v1.37.2');
    else expect(versions.serverVersion?.gitVersion).toMatch(/^v1\./);
  });
});
