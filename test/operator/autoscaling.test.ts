// A HorizontalPodAutoscaler drives a CounterService through its scale subresource, as it would a
// Deployment, and the operator carries the new size to the Deployment. No metrics server runs
// here, so the test uses the two paths of the HPA controller that need no metrics: a target below
// minReplicas is scaled up to it, a target above maxReplicas down to it (kube-controller-manager,
// pkg/controller/podautoscaler/horizontal.go, reconcileAutoscaler). Both go through GET and PUT
// of counterservices/scale under the controller's own ServiceAccount, so the CRD's scale
// subresource (specReplicasPath, statusReplicasPath, labelSelectorPath) is what is under test.
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import type { KubeClient } from '../../kube/client.ts';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes, type KubeObject, type ResourceType } from '../../kube/resources.ts';
import {
  adminClient,
  counterService,
  counterServices,
  create,
  eventsFor,
  get,
  installCrds,
  mergePatch,
  OperatorProcess,
  testNamespace,
} from './operator-harness.ts';

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

const kubeconfig = inject('kubeconfig');
let client: KubeClient;
let namespace: { name: string; remove: () => Promise<void> };
let operator: OperatorProcess;

beforeAll(async () => {
  client = await adminClient(kubeconfig);
  await installCrds(client);
  namespace = await testNamespace(client, 'op-hpa');
  operator = await OperatorProcess.watching(kubeconfig, namespace.name, `lastcall-hpa-${process.pid}`);
});

afterAll(async () => {
  await operator?.stop();
  await namespace?.remove();
  await client?.close();
});

const sizes = async (name: string) => {
  const cs = await get<Scaled>(client, counterServices, namespace.name, name);
  const deployment = await get<Scaled>(client, coreTypes.deployment, namespace.name, name);
  return { counterService: cs?.spec.replicas, deployment: deployment?.spec.replicas };
};

const rescaleEvents = async (hpaName: string) =>
  (await eventsFor(client, namespace.name, hpaName, 'HorizontalPodAutoscaler'))
    .filter((e) => e.reason === 'SuccessfulRescale')
    .map((e) => e.message);

describe('HorizontalPodAutoscaler on a CounterService', () => {
  test('scales it up to minReplicas and back down to maxReplicas through the scale subresource', async () => {
    await create(client, counterServices, counterService('scaled', namespace.name, { replicas: 1 }));
    // The HPA's selector comes from status.selector (labelSelectorPath): written by the operator.
    const selector = await waitFor('status.selector of scaled', async () => {
      const cs = await get<Scaled>(client, counterServices, namespace.name, 'scaled');
      return cs?.status?.selector;
    });
    expect(selector).toContain('lastcall.dev/counterservice=scaled');

    await create<Hpa>(client, hpaType, {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'scaled', namespace: namespace.name },
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
      const live = await get<Hpa>(client, hpaType, namespace.name, 'scaled');
      return live?.status?.conditions?.find((c) => c.type === 'AbleToScale')?.status === 'True'
        ? live
        : undefined;
    });
    expect(hpa.status?.desiredReplicas).toBe(2);

    // Above maxReplicas (a hand `kubectl scale --replicas=3`): the HPA puts it back to 2 at once;
    // no stabilization window applies to the maxReplicas bound.
    await mergePatch(client, counterServices, namespace.name, 'scaled', { spec: { replicas: 3 } });
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
