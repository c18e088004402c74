// A HorizontalPodAutoscaler drives a CounterService through its scale subresource, as it would a
// Deployment, and the operator carries the new size to the Deployment. No metrics server runs
// here, so the test uses the two paths of the HPA controller that need no metrics: a target below
// minReplicas is scaled up to it, a target above maxReplicas down to it (kube-controller-manager,
// pkg/controller/podautoscaler/horizontal.go, reconcileAutoscaler). Both go through GET and PUT
// of counterservices/scale under the controller's own ServiceAccount, so the CRD's scale
// subresource (specReplicasPath, statusReplicasPath, labelSelectorPath) is what is under test.
import { describe, expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes, type KubeObject, type ResourceType } from '../../kube/resources.ts';
import { counterService, counterServices, create, eventsFor, get, mergePatch } from './operator-harness.ts';
import { useOperatorTestbed } from './operator-testbed.ts';

const hpaType: ResourceType = {
  group: 'autoscaling',
  version: 'v2',
  plural: 'horizontalpodautoscalers',
  kind: 'HorizontalPodAutoscaler',
  namespaced: true,
};

interface Scaled extends KubeObject {
  spec: { replicas: number };
  status?: { replicas?: number; selector?: string };
}

interface Hpa extends KubeObject {
  status?: {
    currentReplicas?: number;
    desiredReplicas?: number;
    conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
  };
}

const testbed = useOperatorTestbed({ namespacePrefix: 'op-hpa' });

const sizes = async (name: string) => {
  const cs = await get<Scaled>(testbed.client, counterServices, testbed.namespace, name);
  const deployment = await get<Scaled>(testbed.client, coreTypes.deployment, testbed.namespace, name);
  return { counterService: cs?.spec.replicas, deployment: deployment?.spec.replicas };
};

const rescaleEvents = async (hpaName: string) =>
  (await eventsFor(testbed.client, testbed.namespace, hpaName, 'HorizontalPodAutoscaler'))
    .filter((e) => e.reason === 'SuccessfulRescale')
    .map((e) => e.message);

describe('HorizontalPodAutoscaler on a CounterService', () => {
  test('scales it up to minReplicas and back down to maxReplicas through the scale subresource', async () => {
    await create(
      testbed.client,
      counterServices,
      counterService('scaled', testbed.namespace, { replicas: 1 }),
    );
    // The HPA's selector comes from status.selector (labelSelectorPath): written by the operator.
    const selector = await waitFor('status.selector of scaled', async () => {
      const cs = await get<Scaled>(testbed.client, counterServices, testbed.namespace, 'scaled');
      return cs?.status?.selector;
    });
    expect(selector).toContain('lastcall.dev/counterservice=scaled');

    await create<Hpa>(testbed.client, hpaType, {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'scaled', namespace: testbed.namespace },
      spec: {
        scaleTargetRef: { apiVersion: 'lastcall.dev/v1alpha1', kind: 'CounterService', name: 'scaled' },
        minReplicas: 2,
        maxReplicas: 2,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
          },
        ],
      },
    });
    // Below minReplicas: the HPA controller writes 2 to counterservices/scale, the operator
    // applies it to the Deployment. The controller syncs every 15 s and its REST mapper may need
    // a refresh to learn the new kind, hence the long deadline.
    await waitFor(
      'CounterService and Deployment at 2 replicas (HPA minReplicas)',
      async () => {
        const s = await sizes('scaled');
        return s.counterService === 2 && s.deployment === 2;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    const up = await waitFor('SuccessfulRescale event to 2', async () =>
      (await rescaleEvents('scaled')).find((m) => m.includes('New size: 2')),
    );
    expect(up).toContain('below Spec.MinReplicas');
    const hpa = await waitFor('HPA able to scale', async () => {
      const live = await get<Hpa>(testbed.client, hpaType, testbed.namespace, 'scaled');
      return live?.status?.conditions?.find((c) => c.type === 'AbleToScale')?.status === 'True'
        ? live
        : undefined;
    });
    expect(hpa.status?.desiredReplicas).toBe(2);

    // Above maxReplicas (a hand `kubectl scale --replicas=3`): the HPA puts it back to 2 at once;
    // no stabilization window applies to the maxReplicas bound.
    await mergePatch(testbed.client, counterServices, testbed.namespace, 'scaled', { spec: { replicas: 3 } });
    await waitFor(
      'CounterService and Deployment back at 2 replicas (HPA maxReplicas)',
      async () => {
        const s = await sizes('scaled');
        return s.counterService === 2 && s.deployment === 2 ? s : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    const down = await waitFor('SuccessfulRescale event from 3 to 2', async () =>
      (await rescaleEvents('scaled')).find((m) => m.includes('above Spec.MaxReplicas')),
    );
    expect(down).toContain('New size: 2');
  });
});
