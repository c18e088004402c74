// The control plane of the cluster the "cluster" project runs against
// (test/support/cluster-setup.ts): the controllers the operator relies on work.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AuthenticationV1Api, CoreV1Api, KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureTools } from '../../cluster/tools.ts';
import { waitFor } from '../../kube/poll.ts';

const kubeconfig = inject('kubeconfig');
const local = (process.env.LASTCALL_E2E_KUBECONFIG ?? '') === '';
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const namespace = `lc-control-plane-${randomBytes(3).toString('hex')}`;

function statusCode(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

/** The object, or undefined once the API server answers 404. */
async function unlessGone<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if (statusCode(error) === 404) return undefined;
    throw error;
  }
}

beforeAll(async () => {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
});

afterAll(async () => {
  await unlessGone(() => core.deleteNamespace({ name: namespace }));
});

describe('control plane', () => {
  it('creates a namespace with its default ServiceAccount and root CA, and deletes it completely', async () => {
    const name = `lc-ns-${randomBytes(3).toString('hex')}`;
    await core.createNamespace({ body: { metadata: { name } } });
    // serviceaccount controller and root-ca-cert-publisher (kube-controller-manager)
    await waitFor(
      'the default ServiceAccount',
      () => unlessGone(() => core.readNamespacedServiceAccount({ name: 'default', namespace: name })),
      { intervalMs: 200 },
    );
    const rootCa = await waitFor(
      'the kube-root-ca.crt ConfigMap',
      () => unlessGone(() => core.readNamespacedConfigMap({ name: 'kube-root-ca.crt', namespace: name })),
      { intervalMs: 200 },
    );
    expect(rootCa.data?.['ca.crt']).toContain('BEGIN CERTIFICATE');
    await core.createNamespacedConfigMap({
      namespace: name,
      body: { metadata: { name: 'content' }, data: { a: '1' } },
    });

    await core.deleteNamespace({ name });
    const terminating = await unlessGone(() => core.readNamespace({ name }));
    // The namespace controller empties the namespace, then removes the `kubernetes` finalizer.
    if (terminating !== undefined) expect(terminating.status?.phase).toBe('Terminating');
    await waitFor(
      `namespace ${name} to be gone`,
      async () => ((await unlessGone(() => core.readNamespace({ name }))) === undefined ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  });

  it.each(['Background', 'Foreground'] as const)(
    'garbage collector deletes a ConfigMap owned by a deleted ConfigMap (%s propagation)',
    async (propagationPolicy) => {
      const ownerName = `owner-${propagationPolicy.toLowerCase()}`;
      const owner = await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: ownerName } },
      });
      const dependent: V1ConfigMap = {
        metadata: {
          name: `dependent-${propagationPolicy.toLowerCase()}`,
          ownerReferences: [
            {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              name: ownerName,
              uid: owner.metadata?.uid ?? '',
              blockOwnerDeletion: true,
            },
          ],
        },
      };
      await core.createNamespacedConfigMap({ namespace, body: dependent });
      const dependentName = dependent.metadata?.name ?? '';

      await core.deleteNamespacedConfigMap({ name: ownerName, namespace, body: { propagationPolicy } });
      if (propagationPolicy === 'Foreground') {
        // Foreground: the owner stays, with the foregroundDeletion finalizer, until its dependents are gone.
        const stillThere = await unlessGone(() =>
          core.readNamespacedConfigMap({ name: ownerName, namespace }),
        );
        if (stillThere !== undefined) expect(stillThere.metadata?.finalizers).toContain('foregroundDeletion');
      }
      await waitFor(
        'the dependent ConfigMap to be collected',
        async () =>
          (await unlessGone(() => core.readNamespacedConfigMap({ name: dependentName, namespace }))) ===
          undefined
            ? true
            : undefined,
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      await waitFor(
        'the owner ConfigMap to be gone',
        async () =>
          (await unlessGone(() => core.readNamespacedConfigMap({ name: ownerName, namespace }))) === undefined
            ? true
            : undefined,
        { timeoutMs: 60_000, intervalMs: 200 },
      );
    },
  );

  it('issues ServiceAccount tokens through TokenRequest, and RBAC applies to them', async () => {
    const serviceAccount = 'lc-token';
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } });
    const request = await core.createNamespacedServiceAccountToken({
      name: serviceAccount,
      namespace,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = request.status?.token ?? '';
    expect(token.split('.')).toHaveLength(3); // a JWT

    const asServiceAccount = new KubeConfig();
    const cluster = kc.getCurrentCluster();
    if (cluster === null) throw new Error(`${kubeconfig} has no current cluster`);
    asServiceAccount.loadFromOptions({
      clusters: [cluster],
      users: [{ name: serviceAccount, token }],
      contexts: [{ name: 'sa', cluster: cluster.name, user: serviceAccount }],
      currentContext: 'sa',
    });
    const review = await asServiceAccount
      .makeApiClient(AuthenticationV1Api)
      .createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${namespace}:${serviceAccount}`);

    // No RoleBinding grants it anything: RBAC says 403.
    const listing = asServiceAccount
      .makeApiClient(CoreV1Api)
      .listNamespacedSecret({ namespace })
      .then(
        () => 'allowed',
        (error: unknown) => statusCode(error),
      );
    expect(await listing).toBe(403);
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
