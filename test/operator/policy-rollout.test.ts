// Gradual policy rollouts against the real API server: a DrainPolicy with maxConcurrentRollouts 2
// over 20 CounterServices; changing its margin default changes every pod template (grace
// 15 s -> 20 s), and a watch on their Deployments shows no more than 2 rolling out at any moment,
// and all 20 rolled out in the end.
//
// The CounterServices have no replicas, so the test needs no pods: a Deployment then rolls out
// from the apply of its new template until the Deployment controller has observed it. The watch
// delivers the Deployments' changes in the order the API server made them, so "rolling at once"
// is judged on that one order, not on timing.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import type { KubeClient } from '../../kube/client.ts';
import { waitFor } from '../../kube/poll.ts';
import { Reflector } from '../../kube/reflector.ts';
import { coreTypes, type KubeObject } from '../../kube/resources.ts';
import {
  adminClient,
  counterService,
  counterServices,
  create,
  drainPolicies,
  installCrds,
  mergePatch,
  OperatorProcess,
  remove,
  testNamespace,
} from './operator-harness.ts';

interface DeploymentJson extends KubeObject {
  metadata: KubeObject['metadata'] & { generation?: number };
  spec: { replicas: number; template: { spec: { terminationGracePeriodSeconds: number } } };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
  };
}

const kubeconfig = inject('kubeconfig');
const count = 20;
const maxConcurrentRollouts = 2;
let client: KubeClient;
let namespace: { name: string; remove: () => Promise<void> };
let operator: OperatorProcess;
let deployments: Reflector<DeploymentJson>;
const policyName = `test-gradual-${process.pid}`;
const leaseName = `lastcall-policy-rollout-${process.pid}`;

beforeAll(async () => {
  client = await adminClient(kubeconfig);
  await installCrds(client);
  namespace = await testNamespace(client, 'op-policy-rollout');
  await create(client, drainPolicies, {
    apiVersion: 'lastcall.dev/v1alpha1',
    kind: 'DrainPolicy',
    metadata: { name: policyName },
    spec: {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace.name } },
      defaults: { marginSeconds: 3 },
      maxConcurrentRollouts,
    },
  });
  operator = await OperatorProcess.watching(kubeconfig, namespace.name, leaseName);
  deployments = new Reflector<DeploymentJson>({
    client,
    type: coreTypes.deployment,
    namespace: namespace.name,
    log: pino({ level: 'silent' }),
  });
  deployments.start();
  await deployments.waitForSync();
});

afterAll(async () => {
  await deployments?.stop();
  await operator?.stop();
  if (client) await remove(client, drainPolicies, undefined, policyName);
  await namespace?.remove();
  await client?.close();
});

/** Rolling out: the Deployment controller has not yet observed the template, or pods are being replaced. */
function rolling(d: DeploymentJson): boolean {
  const s = d.status ?? {};
  return (
    (s.observedGeneration ?? 0) < (d.metadata.generation ?? 0) ||
    (s.updatedReplicas ?? 0) < d.spec.replicas ||
    (s.replicas ?? 0) > (s.updatedReplicas ?? 0) ||
    (s.availableReplicas ?? 0) < (s.updatedReplicas ?? 0)
  );
}
const grace = (d: DeploymentJson) => d.spec.template.spec.terminationGracePeriodSeconds;

describe('gradual policy rollouts', () => {
  test(`a policy change over ${count} CounterServices rolls no more than maxConcurrentRollouts (${maxConcurrentRollouts}) at a time`, async () => {
    await Promise.all(
      Array.from({ length: count }, (_, i) =>
        create(client, counterServices, counterService(`c${i}`, namespace.name, { replicas: 0 })),
      ),
    );
    await waitFor(
      `${count} Deployments with grace 15, settled`,
      () => {
        const list = deployments.store.list();
        return list.length === count && list.every((d) => grace(d) === 15 && !rolling(d));
      },
      { timeoutMs: 180_000, intervalMs: 250 },
    );

    let maxRolling = 0;
    deployments.onChange(() => {
      maxRolling = Math.max(maxRolling, deployments.store.list().filter(rolling).length);
    });
    // 5 + 5 + 2 + 3 = 15 s becomes 5 + 5 + 2 + 8 = 20 s: every pod template changes (the
    // CounterServices set their propagation themselves; the margin comes from the policy).
    await mergePatch(client, drainPolicies, undefined, policyName, {
      spec: { defaults: { marginSeconds: 8 } },
    });
    await waitFor(
      `all ${count} Deployments with grace 20, settled`,
      () => {
        const list = deployments.store.list();
        return list.length === count && list.every((d) => grace(d) === 20 && !rolling(d));
      },
      {
        timeoutMs: 180_000,
        intervalMs: 250,
        describeState: () =>
          `${deployments.store.list().filter((d) => grace(d) === 20).length} with grace 20, max rolling at once ${maxRolling}`,
      },
    );
    expect(maxRolling).toBeGreaterThanOrEqual(1);
    expect(maxRolling).toBeLessThanOrEqual(maxConcurrentRollouts);
  });
});
