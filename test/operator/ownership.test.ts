// Never take over, against the real API server: an object with a CounterService's name that the
// CounterService does not control (a user's own Service, PDB or Deployment, without lastcall's
// labels, so the operator's filtered caches never see it) is left exactly as it is; the
// CounterService is Degraded/NameConflict with a Warning event naming the object; nothing of it is
// applied until the object is gone, and then it converges.
import { describe, expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes, type KubeObject } from '../../kube/resources.ts';
import {
  condition,
  counterService,
  counterServices,
  create,
  eventsFor,
  get,
  remove,
} from './operator-harness.ts';
import { useOperatorTestbed } from './operator-testbed.ts';

const testbed = useOperatorTestbed({ namespacePrefix: 'op-ownership' });

const userService = (name: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: testbed.namespace },
  spec: { selector: { app: name }, ports: [{ port: 8080, targetPort: 8080 }] },
});
const userPdb = (name: string): KubeObject => ({
  apiVersion: 'policy/v1',
  kind: 'PodDisruptionBudget',
  metadata: { name, namespace: testbed.namespace },
  spec: { selector: { matchLabels: { app: name } }, maxUnavailable: 1 },
});
const userDeployment = (name: string): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: testbed.namespace },
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
      const live = await get(testbed.client, counterServices, testbed.namespace, name);
      return condition(live, 'Degraded')?.reason === 'NameConflict' ? live : undefined;
    },
    { timeoutMs: 60_000 },
  );
}

describe('never take over', () => {
  test('a user Service and PDB of its name are left untouched; nothing is applied until they are gone', async () => {
    const name = 'shop';
    const service = await create(testbed.client, coreTypes.service, userService(name));
    const pdb = await create(testbed.client, coreTypes.podDisruptionBudget, userPdb(name));
    await create(testbed.client, counterServices, counterService(name, testbed.namespace, { replicas: 0 }));

    const degraded = await nameConflict(name);
    const message = condition(degraded, 'Degraded')?.message;
    expect(condition(degraded, 'Degraded')?.status).toBe('True');
    expect(message).toContain(
      `Service ${testbed.namespace}/${name} exists and is not controlled by this CounterService`,
    );
    expect(message).toContain(
      `PodDisruptionBudget ${testbed.namespace}/${name} exists and is not controlled`,
    );
    expect((degraded.status as { phase?: string }).phase).toBe('Degraded');
    const warning = await waitFor('a NameConflict Warning event', async () =>
      (await eventsFor(testbed.client, testbed.namespace, name)).find((e) => e.reason === 'NameConflict'),
    );
    expect(warning.type).toBe('Warning');
    expect(warning.message).toContain(`Service ${testbed.namespace}/${name}`);

    // Untouched: the user's selector still selects the user's pods, no owner reference makes the
    // garbage collector delete them with the CounterService; and not even the free name is used.
    const liveService = await get(testbed.client, coreTypes.service, testbed.namespace, name);
    expect(ownedFields(liveService)).toEqual(ownedFields(service));
    expect(liveService?.metadata.resourceVersion).toBe(service.metadata.resourceVersion);
    const livePdb = await get(testbed.client, coreTypes.podDisruptionBudget, testbed.namespace, name);
    expect(ownedFields(livePdb)).toEqual(ownedFields(pdb));
    expect(await get(testbed.client, coreTypes.deployment, testbed.namespace, name)).toBeUndefined();

    // The user removes them: the CounterService converges (the operator retries with back-off;
    // the deadline covers a back-off that has grown to its cap).
    await remove(testbed.client, coreTypes.service, testbed.namespace, name);
    await remove(testbed.client, coreTypes.podDisruptionBudget, testbed.namespace, name);
    const converged = await waitFor(
      'the CounterService to converge once the names are free',
      async () => {
        const live = await get(testbed.client, counterServices, testbed.namespace, name);
        const owned = await get(testbed.client, coreTypes.service, testbed.namespace, name);
        return condition(live, 'Degraded')?.status === 'False' &&
          owned?.metadata.ownerReferences?.some((ref) => ref.uid === live?.metadata.uid)
          ? live
          : undefined;
      },
      { timeoutMs: 150_000, intervalMs: 500 },
    );
    for (const type of [coreTypes.deployment, coreTypes.podDisruptionBudget]) {
      const owned = await get(testbed.client, type, testbed.namespace, name);
      expect(owned?.metadata.ownerReferences?.[0]?.uid).toBe(converged.metadata.uid);
    }
  });

  test('a user Deployment of its name is left untouched, and its Service and PDB are not created either', async () => {
    const name = 'web';
    const deployment = await create(testbed.client, coreTypes.deployment, userDeployment(name));
    await create(testbed.client, counterServices, counterService(name, testbed.namespace, { replicas: 0 }));

    const degraded = await nameConflict(name);
    expect(condition(degraded, 'Degraded')?.message).toContain(
      `Deployment ${testbed.namespace}/${name} exists and is not controlled by this CounterService (no controller)`,
    );
    const live = await get(testbed.client, coreTypes.deployment, testbed.namespace, name);
    expect(live?.metadata.labels).toEqual(deployment.metadata.labels);
    expect(live?.metadata.ownerReferences).toBeUndefined();
    expect(live?.spec).toEqual(deployment.spec);
    expect(await get(testbed.client, coreTypes.service, testbed.namespace, name)).toBeUndefined();
    expect(await get(testbed.client, coreTypes.podDisruptionBudget, testbed.namespace, name)).toBeUndefined();
  });
});
