// The reconcile against the real API server: owned objects with the computed budget, status,
// events, drift correction, cascading deletion, and a restart that writes nothing.
import { describe, expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes, type KubeObject, resourcePath } from '../../kube/resources.ts';
import {
  condition,
  counterService,
  counterServices,
  create,
  eventsFor,
  get,
  mergePatch,
  remove,
} from './operator-harness.ts';
import { useOperatorTestbed } from './operator-testbed.ts';

interface DeploymentJson extends KubeObject {
  spec: {
    replicas: number;
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        containers: Array<{
          image: string;
          env: Array<{ name: string; value?: string }>;
          lifecycle?: { preStop?: { sleep?: { seconds: number } } };
        }>;
      };
    };
  };
}

const testbed = useOperatorTestbed({ namespacePrefix: 'op-reconcile' });

const deploymentOf = (name: string) =>
  get<DeploymentJson>(testbed.client, coreTypes.deployment, testbed.namespace, name);
const container = (d: DeploymentJson) => d.spec.template.spec.containers[0];

describe('reconcile', () => {
  test('creates the Deployment, Service and PDB with the computed budget, owned by the CounterService', async () => {
    const cs = await create(
      testbed.client,
      counterServices,
      counterService('alpha', testbed.namespace, { replicas: 2 }),
    );
    const deployment = await waitFor('Deployment alpha', () => deploymentOf('alpha'));
    // 5 propagation + 5 work + 2 cleanup + 3 margin (built-in policy defaults).
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBe(15);
    expect(container(deployment)?.lifecycle?.preStop?.sleep?.seconds).toBe(5);
    expect(container(deployment)?.env.find((e) => e.name === 'DRAIN_TIMEOUT_MS')?.value).toBe('8000');
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'CounterService',
        name: 'alpha',
        uid: cs.metadata.uid,
        controller: true,
      }),
    ]);
    const service = await waitFor('Service alpha', () =>
      get(testbed.client, coreTypes.service, testbed.namespace, 'alpha'),
    );
    expect(service.metadata.ownerReferences?.[0]?.uid).toBe(cs.metadata.uid);
    const pdb = await waitFor('PDB alpha', () =>
      get(testbed.client, coreTypes.podDisruptionBudget, testbed.namespace, 'alpha'),
    );
    expect(pdb.metadata.ownerReferences?.[0]?.uid).toBe(cs.metadata.uid);

    const reconciled = await waitFor('status of alpha', async () => {
      const live = await get(testbed.client, counterServices, testbed.namespace, 'alpha');
      const status = live?.status as { lastRollout?: unknown } | undefined;
      return status?.lastRollout && condition(live, 'BudgetAccepted') ? live : undefined;
    });
    const status = reconciled.status as Record<string, unknown>;
    expect(status).toMatchObject({
      observedGeneration: 1,
      selector: 'lastcall.dev/counterservice=alpha',
      budget: {
        gracePeriodSeconds: 15,
        formula: '5 + 5 + 2 + 3 = 15s',
        source: 'computed',
        policy: 'built-in',
      },
      lastRollout: { toImage: 'lastcall/workload:v1' },
    });
    expect(condition(reconciled, 'BudgetAccepted')).toMatchObject({ status: 'True' });
    expect(condition(reconciled, 'Degraded')).toMatchObject({ status: 'False' });
    expect(['Progressing', 'Pending', 'Ready']).toContain(status.phase);

    const events = await waitFor('Created events', async () => {
      const list = await eventsFor(testbed.client, testbed.namespace, 'alpha');
      return list.some((e) => e.reason === 'Created') ? list : undefined;
    });
    expect(events.map((e) => e.message).join('\n')).toContain('created Deployment alpha (grace period 15s');
  });

  test('a spec change rolls the new image out and records the rollout', async () => {
    await mergePatch(testbed.client, counterServices, testbed.namespace, 'alpha', {
      spec: { image: 'lastcall/workload:v2' },
    });
    const deployment = await waitFor('image v2', async () => {
      const d = await deploymentOf('alpha');
      return container(d as DeploymentJson)?.image === 'lastcall/workload:v2' ? d : undefined;
    });
    expect(deployment?.spec.template.spec.terminationGracePeriodSeconds).toBe(15);
    const cs = await waitFor('lastRollout v1 -> v2', async () => {
      const live = await get(testbed.client, counterServices, testbed.namespace, 'alpha');
      const rollout = (live?.status as { lastRollout?: { fromImage?: string } } | undefined)?.lastRollout;
      return rollout?.fromImage === 'lastcall/workload:v1' ? live : undefined;
    });
    expect((cs.status as Record<string, unknown>).observedGeneration).toBe(2);
  });

  test('a hand edit of the grace period or the preStop sleep is put back', async () => {
    await mergePatch(testbed.client, coreTypes.deployment, testbed.namespace, 'alpha', {
      spec: { template: { spec: { terminationGracePeriodSeconds: 99 } } },
    });
    await waitFor('grace period back to 15', async () => {
      const d = await deploymentOf('alpha');
      return d?.spec.template.spec.terminationGracePeriodSeconds === 15;
    });

    // A JSON patch as `kubectl edit` would send for the preStop sleep.
    const live = (await deploymentOf('alpha')) as DeploymentJson;
    const containers = structuredClone(live.spec.template.spec.containers);
    if (containers[0]?.lifecycle?.preStop?.sleep) containers[0].lifecycle.preStop.sleep.seconds = 1;
    await mergePatch(testbed.client, coreTypes.deployment, testbed.namespace, 'alpha', {
      spec: { template: { spec: { containers } } },
    });
    await waitFor('preStop sleep back to 5', async () => {
      const d = await deploymentOf('alpha');
      return d && container(d)?.lifecycle?.preStop?.sleep?.seconds === 5;
    });
    const events = await waitFor('DriftCorrected event', async () => {
      const list = await eventsFor(testbed.client, testbed.namespace, 'alpha');
      return list.find((e) => e.reason === 'DriftCorrected');
    });
    expect(events.message).toContain('Deployment alpha');
  });

  test('a restarted operator writes nothing when nothing changed', async () => {
    await create(testbed.client, counterServices, counterService('beta', testbed.namespace));
    await waitFor('beta reconciled', async () =>
      condition(await get(testbed.client, counterServices, testbed.namespace, 'beta'), 'Ready'),
    );
    // Let the world settle: the Deployment controller has observed both Deployments, each
    // CounterService's status reflects its Deployment, no pod is terminating, and the operator has
    // gone quiet. A terminating pod matters: the hand edits above changed the pod template, so the
    // Deployment controller may have deleted a pod, and a pod that finishes terminating (after its
    // 5 s preStop sleep) is a drain the operator writes to status, maybe only after the restart.
    const counts = ['replicas', 'updatedReplicas', 'readyReplicas', 'availableReplicas'] as const;
    await waitFor(
      'statuses reflect settled Deployments',
      async () => {
        for (const name of ['alpha', 'beta']) {
          const d = await deploymentOf(name);
          const cs = await get(testbed.client, counterServices, testbed.namespace, name);
          const ds = d?.status as
            | ({ observedGeneration?: number } & Partial<Record<(typeof counts)[number], number>>)
            | undefined;
          const status = cs?.status as Partial<Record<(typeof counts)[number], number>> | undefined;
          if (!d || ds?.observedGeneration !== d.metadata.generation) return false;
          if (counts.some((field) => status?.[field] !== (ds?.[field] ?? 0))) return false;
        }
        const pods = await testbed.client.request<{ items: KubeObject[] }>(
          'GET',
          resourcePath(coreTypes.pod, { namespace: testbed.namespace }),
        );
        return pods.items.every((p) => !p.metadata.deletionTimestamp);
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    let reconciles = -1;
    await waitFor(
      'no reconcile for a second',
      async () => {
        const now = await testbed.operator.metric('lastcall_reconcile_total');
        const quiet = now === reconciles && (await testbed.operator.metric('lastcall_workqueue_depth')) === 0;
        reconciles = now;
        return quiet;
      },
      { intervalMs: 1000 },
    );
    expect(await testbed.operator.stop()).toBe(0);

    const before = await resourceVersions(['alpha', 'beta']);
    await testbed.startOperator();
    // Every CounterService reconciled once after the restart.
    await waitFor(
      'two reconciles after the restart',
      async () => (await testbed.operator.metric('lastcall_reconcile_total', { result: 'success' })) >= 2,
    );
    expect(await testbed.operator.writes(), await testbed.operator.metrics()).toBe(0);
    expect(await testbed.operator.metric('lastcall_apply_skipped_total')).toBeGreaterThanOrEqual(6);
    const after = await resourceVersions(['alpha', 'beta']);
    expect(after).toEqual(before);
  });

  test('deleting the CounterService deletes what it owned (garbage collector)', async () => {
    await remove(testbed.client, counterServices, testbed.namespace, 'alpha');
    await waitFor(
      'owned objects of alpha gone',
      async () =>
        !(await get(testbed.client, coreTypes.deployment, testbed.namespace, 'alpha')) &&
        !(await get(testbed.client, coreTypes.service, testbed.namespace, 'alpha')) &&
        !(await get(testbed.client, coreTypes.podDisruptionBudget, testbed.namespace, 'alpha')),
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    // beta is untouched.
    expect(await get(testbed.client, coreTypes.deployment, testbed.namespace, 'beta')).toBeDefined();
  });
});

/** resourceVersions of the CounterServices and their Service and PDB (the Deployment's status moves on its own). */
async function resourceVersions(names: string[]): Promise<Record<string, string | undefined>> {
  const versions: Record<string, string | undefined> = {};
  for (const name of names) {
    for (const [label, type] of [
      ['cs', counterServices],
      ['svc', coreTypes.service],
      ['pdb', coreTypes.podDisruptionBudget],
    ] as const) {
      versions[`${label}/${name}`] = (
        await get(testbed.client, type, testbed.namespace, name)
      )?.metadata.resourceVersion;
    }
  }
  return versions;
}
