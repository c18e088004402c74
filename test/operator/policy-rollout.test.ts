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
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { Reflector } from '../../kube/reflector.ts';
import { coreTypes, type KubeObject } from '../../kube/resources.ts';
import {
  counterService,
  counterServices,
  create,
  drainPolicies,
  mergePatch,
  remove,
} from './operator-harness.ts';
import { useOperatorTestbed } from './operator-testbed.ts';

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

const count = 20;
const maxConcurrentRollouts = 2;
const policyName = `test-gradual-${process.pid}`;
const testbed = useOperatorTestbed({
  namespacePrefix: 'op-policy-rollout',
  prepare: async ({ client, namespace }) => {
    await create(client, drainPolicies, {
      apiVersion: 'lastcall.dev/v1alpha1',
      kind: 'DrainPolicy',
      metadata: { name: policyName },
      spec: {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
        defaults: { marginSeconds: 3 },
        maxConcurrentRollouts,
      },
    });
  },
  cleanUp: async ({ client }) => {
    await remove(client, drainPolicies, undefined, policyName);
  },
});
let deployments: Reflector<DeploymentJson>;

// Hooks registered after the testbed's: the watch starts once the operator runs and stops before it.
beforeAll(async () => {
  deployments = new Reflector<DeploymentJson>({
    client: testbed.client,
    type: coreTypes.deployment,
    namespace: testbed.namespace,
    log: pino({ level: 'silent' }),
  });
  deployments.start();
  await deployments.waitForSync();
});

afterAll(async () => {
  await deployments?.stop();
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
        create(testbed.client, counterServices, counterService(`c${i}`, testbed.namespace, { replicas: 0 })),
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
    await mergePatch(testbed.client, drainPolicies, undefined, policyName, {
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
