// Never take over, against the real API server: an object with a CounterService's name that the
// CounterService does not control (a user's own Service, PDB or Deployment, without lastcall's
// labels, so the operator's filtered caches never see it) is left exactly as it is; the
// CounterService is Degraded/NameConflict with a Warning event naming the object; nothing of it is
// applied until the object is gone, and then it converges.
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import type { KubeClient } from '../../kube/client.ts';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes, type KubeObject } from '../../kube/resources.ts';
import {
  adminClient,
  condition,
  counterService,
  counterServices,
  create,
  eventsFor,
  get,
  installCrds,
  OperatorProcess,
  remove,
  testNamespace,
} from './operator-harness.ts';

const kubeconfig = inject('kubeconfig');
let client: KubeClient;
let namespace: { name: string; remove: () => Promise<void> };
let operator: OperatorProcess;
const leaseName = `lastcall-ownership-${process.pid}`;

beforeAll(async () => {
  client = await adminClient(kubeconfig);
  await installCrds(client);
  namespace = await testNamespace(client, 'op-ownership');
  operator = await OperatorProcess.watching(kubeconfig, namespace.name, leaseName);
});

afterAll(async () => {
  await operator?.stop();
  await namespace?.remove();
  await client?.close();
});

const userService = (name: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: namespace.name },
  spec: { selector: { app: name }, ports: [{ port: 8080, targetPort: 8080 }] },
});
const userPdb = (name: string): KubeObject => ({
  apiVersion: 'policy/v1',
  kind: 'PodDisruptionBudget',
  metadata: { name, namespace: namespace.name },
  spec: { selector: { matchLabels: { app: name } }, maxUnavailable: 1 },
});
const userDeployment = (name: string): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: namespace.name },
  spec: {
    replicas: 0,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: 'app', image: 'busybox:1.36', command: ['sleep', '3600'] }] },
    },
  },
});

/** What a takeover would change: labels, owner references, spec. */
const ownedFields = (obj: KubeObject | undefined) => ({
  labels: obj?.metadata.labels,
  ownerReferences: obj?.metadata.ownerReferences,
  spec: obj?.spec,
});

async function nameConflict(name: string) {
  return waitFor(
    `CounterService ${name} Degraded with reason NameConflict`,
    async () => {
      const live = await get(client, counterServices, namespace.name, name);
      return condition(live, 'Degraded')?.reason === 'NameConflict' ? live : undefined;
    },
    { timeoutMs: 60_000 },
  );
}

describe('never take over', () => {
  test('a user Service and PDB of its name are left untouched; nothing is applied until they are gone', async () => {
    const name = 'shop';
    const service = await create(client, coreTypes.service, userService(name));
    const pdb = await create(client, coreTypes.podDisruptionBudget, userPdb(name));
    await create(client, counterServices, counterService(name, namespace.name, { replicas: 0 }));

    const degraded = await nameConflict(name);
    const message = condition(degraded, 'Degraded')?.message;
    expect(condition(degraded, 'Degraded')?.status).toBe('True');
    expect(message).toContain(
      `Service ${namespace.name}/${name} exists and is not controlled by this CounterService`,
    );
    expect(message).toContain(`PodDisruptionBudget ${namespace.name}/${name} exists and is not controlled`);
    expect((degraded.status as { phase?: string }).phase).toBe('Degraded');
    const warning = await waitFor('a NameConflict Warning event', async () =>
      (await eventsFor(client, namespace.name, name)).find((e) => e.reason === 'NameConflict'),
    );
    expect(warning.type).toBe('Warning');
    expect(warning.message).toContain(`Service ${namespace.name}/${name}`);

    // Untouched: the user's selector still selects the user's pods, no owner reference makes the
    // garbage collector delete them with the CounterService; and not even the free name is used.
    const liveService = await get(client, coreTypes.service, namespace.name, name);
    expect(ownedFields(liveService)).toEqual(ownedFields(service));
    expect(liveService?.metadata.resourceVersion).toBe(service.metadata.resourceVersion);
    const livePdb = await get(client, coreTypes.podDisruptionBudget, namespace.name, name);
    expect(ownedFields(livePdb)).toEqual(ownedFields(pdb));
    expect(await get(client, coreTypes.deployment, namespace.name, name)).toBeUndefined();

    // The user removes them: the CounterService converges (the operator retries with back-off;
    // the deadline covers a back-off that has grown to its cap).
    await remove(client, coreTypes.service, namespace.name, name);
    await remove(client, coreTypes.podDisruptionBudget, namespace.name, name);
    const converged = await waitFor(
      'the CounterService to converge once the names are free',
      async () => {
        const live = await get(client, counterServices, namespace.name, name);
        const owned = await get(client, coreTypes.service, namespace.name, name);
        return condition(live, 'Degraded')?.status === 'False' &&
          owned?.metadata.ownerReferences?.some((ref) => ref.uid === live?.metadata.uid)
          ? live
          : undefined;
      },
      { timeoutMs: 150_000, intervalMs: 500 },
    );
    for (const type of [coreTypes.deployment, coreTypes.podDisruptionBudget]) {
      const owned = await get(client, type, namespace.name, name);
      expect(owned?.metadata.ownerReferences?.[0]?.uid).toBe(converged.metadata.uid);
    }
  });

  test('a user Deployment of its name is left untouched, and its Service and PDB are not created either', async () => {
    const name = 'web';
    const deployment = await create(client, coreTypes.deployment, userDeployment(name));
    await create(client, counterServices, counterService(name, namespace.name, { replicas: 0 }));

    const degraded = await nameConflict(name);
    expect(condition(degraded, 'Degraded')?.message).toContain(
      `Deployment ${namespace.name}/${name} exists and is not controlled by this CounterService (no controller)`,
    );
    const live = await get(client, coreTypes.deployment, namespace.name, name);
    expect(live?.metadata.labels).toEqual(deployment.metadata.labels);
    expect(live?.metadata.ownerReferences).toBeUndefined();
    expect(live?.spec).toEqual(deployment.spec);
    expect(await get(client, coreTypes.service, namespace.name, name)).toBeUndefined();
    expect(await get(client, coreTypes.podDisruptionBudget, namespace.name, name)).toBeUndefined();
  });
});
