// Drain observation with real terminating pods (needs a node: the local cluster's process kubelet
// or kind). A CounterService's pod is deleted while it has work in flight; the kubelet runs the
// preStop sleep, sends SIGTERM, the workload drains and writes its termination message; the
// operator records the drain in status and raises an event. A pod that ignores SIGTERM is killed
// and reported as such. A restarted operator does not count anything twice.
import { describe, expect, test } from 'vitest';
import { loopbackTwin } from '../../cluster/addresses.ts';
import { ApiError } from '../../kube/errors.ts';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes, type KubeObject, resourcePath } from '../../kube/resources.ts';
import { recentDrainsKept } from '../../operator/drains.ts';
import { sigtermTrapping } from '../cluster/kubelet/testing.ts';
import { counterService, counterServices, create, eventsFor, get } from './operator-harness.ts';
import { useOperatorTestbed } from './operator-testbed.ts';

interface Pod extends KubeObject {
  status?: { podIP?: string; phase?: string; conditions?: Array<{ type: string; status: string }> };
}
interface Drains {
  observed: number;
  clean: number;
  killed: number;
  abandonedIncrements: number;
  longestDrainSeconds?: number;
  recommendedGracePeriodSeconds?: number;
  recent?: Array<{
    pod: string;
    podUID?: string;
    outcome: string;
    exitCode?: number;
    completed?: number;
    abandoned?: number;
    pendingAtSignal?: number;
    drainSeconds?: number;
  }>;
}

const testbed = useOperatorTestbed({
  namespacePrefix: 'op-drains',
  needsNode: true,
  prepare: ({ namespace }) => createRedis(namespace),
});

const drainsOf = async (name: string) =>
  (
    (await get(testbed.client, counterServices, testbed.namespace, name))?.status as
      | { drains?: Drains }
      | undefined
  )?.drains;

/** Polls the CounterService's status until it has observed at least `observed` drains. */
const drainsReaching = (name: string, observed: number) =>
  waitFor(
    `${observed} drain(s) of ${name} in status`,
    async () => {
      const d = await drainsOf(name);
      return d && d.observed >= observed ? d : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );

async function readyPods(selector: string): Promise<Pod[]> {
  const list = await testbed.client.request<{ items: Pod[] }>(
    'GET',
    resourcePath(coreTypes.pod, { namespace: testbed.namespace }),
    {
      query: { labelSelector: selector },
    },
  );
  return list.items.filter(
    (p) =>
      !p.metadata.deletionTimestamp &&
      p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  );
}

describe('drain observation', () => {
  test('a pod deleted with work in flight drains cleanly and is recorded once', async ({ skip }) => {
    if (!testbed.hasNode) skip('the cluster has no node to run pods');
    // Grace period 1 propagation + 4 work + 2 cleanup + 3 margin = 10 s; the workload's deadline
    // is 10 - 1 - 2 = 7 s after SIGTERM.
    await create(
      testbed.client,
      counterServices,
      counterService('drainer', testbed.namespace, {
        work: { durationSeconds: 4 },
        drain: { propagationSeconds: 1 },
      }),
    );
    const [pod] = await waitFor(
      'a ready pod of drainer',
      async () => {
        const pods = await readyPods('lastcall.dev/counterservice=drainer');
        return pods.length === 1 ? pods : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    if (!pod?.status?.podIP) throw new Error('pod has no IP');
    // Three increments in flight (each takes 4 s), then the deletion.
    const base = `http://${loopbackTwin(pod.status.podIP)}:8080`;
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${base}/incr`, { method: 'POST' });
      expect(response.status).toBe(200);
    }
    await testbed.client.request(
      'DELETE',
      resourcePath(coreTypes.pod, { namespace: testbed.namespace, name: pod.metadata.name }),
    );

    const drains = await drainsReaching('drainer', 1);
    expect(drains).toMatchObject({ observed: 1, clean: 1, killed: 0, abandonedIncrements: 0 });
    expect(drains.recent?.[0]).toMatchObject({
      pod: pod.metadata.name,
      podUID: pod.metadata.uid,
      outcome: 'Clean',
      exitCode: 0,
    });
    // SIGTERM comes 1 s (the preStop sleep) after the DELETE, well within the 4 s of work: the
    // increments were still in flight then, and the drain finished every one of them.
    const [record] = drains.recent ?? [];
    expect(record?.pendingAtSignal).toBeGreaterThan(0);
    expect(record?.pendingAtSignal).toBeLessThanOrEqual(3);
    expect(record?.completed).toBe(record?.pendingAtSignal);
    expect(record?.abandoned).toBe(0);
    // It waited for the work, and ended before its 7 s deadline.
    const longest = drains.longestDrainSeconds ?? Number.NaN;
    expect(longest).toBeGreaterThan(0);
    expect(longest).toBeLessThan(7);
    // propagation + longest drain + margin (budget.ts recommendGracePeriod).
    expect(drains.recommendedGracePeriodSeconds).toBe(Math.max(Math.ceil(1 + longest + 3), 1 + 1 + 2));
    const event = await waitFor('Drained event', async () =>
      (await eventsFor(testbed.client, testbed.namespace, 'drainer')).find((e) => e.reason === 'Drained'),
    );
    expect(event.message).toContain(pod.metadata.name ?? '');
    // The per-CounterService metrics say the same (operator/counterservice-metrics.ts).
    const labels = { namespace: testbed.namespace, counterservice: 'drainer' };
    expect(
      await testbed.operator.metric('lastcall_counterservice_drains_total', { ...labels, outcome: 'Clean' }),
    ).toBe(1);
    expect(
      await testbed.operator.metric('lastcall_counterservice_drains_total', { ...labels, outcome: 'Killed' }),
    ).toBe(0);
    expect(await testbed.operator.metric('lastcall_counterservice_grace_period_seconds', labels)).toBe(10);
    expect(
      await testbed.operator.metric('lastcall_counterservice_recommended_grace_period_seconds', labels),
    ).toBe(drains.recommendedGracePeriodSeconds);
  });

  test('a pod that ignores SIGTERM is killed, recorded as killed, and raises DrainKilled', async ({
    skip,
  }) => {
    if (!testbed.hasNode) skip('the cluster has no node to run pods');
    await create(
      testbed.client,
      counterServices,
      counterService('stubborn', testbed.namespace, { replicas: 0 }),
    );
    const uid = await runAndDeleteStubbornPod();
    const drains = await drainsReaching('stubborn', 1);
    expect(drains).toMatchObject({ observed: 1, clean: 0, killed: 1 });
    expect(drains.recent?.[0]).toMatchObject({
      pod: 'stubborn-pod',
      podUID: uid,
      outcome: 'Killed',
      exitCode: 137,
      // It had its whole grace period (2 s, no preStop hook) after SIGTERM; the kubelet's final
      // DELETE (grace 0) does not shrink that.
      drainSeconds: 2,
    });
    const event = await waitFor('DrainKilled event', async () =>
      (await eventsFor(testbed.client, testbed.namespace, 'stubborn')).find(
        (e) => e.reason === 'DrainKilled',
      ),
    );
    expect(event.type).toBe('Warning');
    expect(
      await testbed.operator.metric('lastcall_counterservice_drains_total', {
        namespace: testbed.namespace,
        counterservice: 'stubborn',
        outcome: 'Killed',
      }),
    ).toBe(1);
  });

  test('a pod re-created under the same name counts as a new drain', async ({ skip }) => {
    if (!testbed.hasNode) skip('the cluster has no node to run pods');
    // Same name, new object: the API server gives it a new UID, which is what drains are keyed by.
    const uid = await runAndDeleteStubbornPod();
    const drains = await drainsReaching('stubborn', 2);
    expect(drains).toMatchObject({ observed: 2, clean: 0, killed: 2 });
    expect(drains.recent?.map((r) => r.pod)).toEqual(['stubborn-pod', 'stubborn-pod']);
    expect(drains.recent?.[0]?.podUID).toBe(uid);
    expect(drains.recent?.[1]?.podUID).not.toBe(uid);
  });

  test('many pods draining at once are each counted once, more than status keeps in recent', async ({
    skip,
  }) => {
    if (!testbed.hasNode) skip('the cluster has no node to run pods');
    await create(
      testbed.client,
      counterServices,
      counterService('crowd', testbed.namespace, { replicas: 0 }),
    );
    // More pods than the records status keeps: each one's DELETED event (after its final status
    // update was counted) must still be recognised, also for pods no longer in `recent`.
    const crowd = Array.from({ length: recentDrainsKept + 2 }, (_, i) => `crowd-${i}`);
    await Promise.all(crowd.map((name) => runPod(name, 'crowd')));
    await waitFor(
      `${crowd.length} crowd pods ready`,
      async () => (await readyPods('lastcall.dev/counterservice=crowd')).length === crowd.length,
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    await Promise.all(crowd.map((name) => deletePod(name)));
    await waitFor('every crowd pod gone', async () => (await podsOf('crowd')).length === 0, {
      timeoutMs: 120_000,
      intervalMs: 500,
    });
    // A sentinel after the crowd: the pod watch delivers events in order, so once the sentinel's
    // drain is in status, every event of the crowd before it has been through the ledger too.
    await runPod('crowd-sentinel', 'crowd');
    await waitFor(
      'the sentinel ready',
      async () => (await readyPods('lastcall.dev/counterservice=crowd')).length === 1,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    await deletePod('crowd-sentinel');
    const drains = await waitFor(
      'the sentinel counted',
      async () => {
        const d = await drainsOf('crowd');
        return d?.recent?.some((r) => r.pod === 'crowd-sentinel') ? d : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(drains).toMatchObject({ observed: crowd.length + 1, clean: crowd.length + 1, killed: 0 });
    expect(drains.recent).toHaveLength(recentDrainsKept);
  });

  test('a restarted operator counts nothing twice', async ({ skip }) => {
    if (!testbed.hasNode) skip('the cluster has no node to run pods');
    const before = { drainer: await drainsOf('drainer'), stubborn: await drainsOf('stubborn') };
    expect(await testbed.operator.stop()).toBe(0);
    await testbed.startOperator();
    await waitFor('resync', async () => (await testbed.operator.metric('lastcall_reconcile_total')) >= 2);
    expect({ drainer: await drainsOf('drainer'), stubborn: await drainsOf('stubborn') }).toEqual(before);
  });
});

/** A pod of the CounterService `owner` (by its label) that exits 0 at SIGTERM: a clean drain. */
async function runPod(name: string, owner: string): Promise<void> {
  const quick = sigtermTrapping('exit 0', 'busybox:1.36');
  await testbed.client.request('POST', resourcePath(coreTypes.pod, { namespace: testbed.namespace }), {
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: testbed.namespace, labels: { 'lastcall.dev/counterservice': owner } },
      spec: {
        terminationGracePeriodSeconds: 10,
        volumes: [quick.volume],
        containers: [{ ...quick.container, name: 'counter' }],
      },
    },
  });
}

async function deletePod(name: string): Promise<void> {
  await testbed.client.request('DELETE', resourcePath(coreTypes.pod, { namespace: testbed.namespace, name }));
}

async function podsOf(owner: string): Promise<Pod[]> {
  const list = await testbed.client.request<{ items: Pod[] }>(
    'GET',
    resourcePath(coreTypes.pod, { namespace: testbed.namespace }),
    { query: { labelSelector: `lastcall.dev/counterservice=${owner}` } },
  );
  return list.items;
}

/**
 * Creates `stubborn-pod` (a pod of the CounterService `stubborn` by its label, whose process ignores
 * SIGTERM: only SIGKILL ends it), waits until it runs, deletes it and returns its UID. A previous
 * pod of that name may still be terminating: the create is refused with 409 until it is gone.
 */
async function runAndDeleteStubbornPod(): Promise<string> {
  const created = await waitFor(
    'stubborn-pod created',
    async () => {
      try {
        return await testbed.client.request<KubeObject>(
          'POST',
          resourcePath(coreTypes.pod, { namespace: testbed.namespace }),
          { body: stubbornPod() },
        );
      } catch (err) {
        if (err instanceof ApiError && err.code === 409) return undefined;
        throw err;
      }
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  await waitFor(
    'stubborn-pod running',
    async () => (await readyPods('lastcall.dev/counterservice=stubborn')).length === 1,
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  await testbed.client.request(
    'DELETE',
    resourcePath(coreTypes.pod, { namespace: testbed.namespace, name: 'stubborn-pod' }),
  );
  return created.metadata.uid ?? '';
}

function stubbornPod(): KubeObject {
  const stubborn = sigtermTrapping('', 'busybox:1.36');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'stubborn-pod',
      namespace: testbed.namespace,
      labels: { 'lastcall.dev/counterservice': 'stubborn' },
    },
    spec: {
      terminationGracePeriodSeconds: 2,
      // Ready only once SIGTERM is ignored: deleted right after that, it must be killed (137).
      volumes: [stubborn.volume],
      containers: [{ ...stubborn.container, name: 'counter' }],
    },
  } as KubeObject;
}

async function createRedis(ns: string): Promise<void> {
  const labels = { 'app.kubernetes.io/name': 'redis' };
  await testbed.client.request('POST', resourcePath(coreTypes.deployment, { namespace: ns }), {
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'redis', namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name: 'redis',
                image: 'redis:7',
                ports: [{ name: 'redis', containerPort: 6379 }],
                readinessProbe: { tcpSocket: { port: 'redis' }, periodSeconds: 1 },
              },
            ],
          },
        },
      },
    },
  });
  await testbed.client.request('POST', resourcePath(coreTypes.service, { namespace: ns }), {
    body: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'redis', namespace: ns },
      spec: { selector: labels, ports: [{ name: 'redis', port: 6379, targetPort: 'redis' }] },
    },
  });
}
