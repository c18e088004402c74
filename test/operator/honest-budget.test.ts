// Honest budgets against the real API server (issue 10, point 2): a budget whose drain deadline
// cannot cover the work plus the workload's latency allowance passes admission when its terms come
// from a policy (CEL sees only the object), and the operator refuses it, naming every term.
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
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
  mergePatch,
  OperatorProcess,
  testNamespace,
} from './operator-harness.ts';

const kubeconfig = inject('kubeconfig');
let client: KubeClient;
let namespace: { name: string; remove: () => Promise<void> };
let operator: OperatorProcess;

beforeAll(async () => {
  client = await adminClient(kubeconfig);
  await installCrds(client);
  namespace = await testNamespace(client, 'op-honest');
  operator = await OperatorProcess.watching(kubeconfig, namespace.name, `lastcall-honest-${process.pid}`);
});

afterAll(async () => {
  await operator?.stop();
  await namespace?.remove();
  await client?.close();
});

test('an override of 20 s for 30 s of work is refused with every term named; 38 s is accepted', async () => {
  // replicas 0: no pod is needed to judge a budget. Propagation and cleanup come from the
  // built-in policy (5 and 2), so no CEL rule can see the 13 s drain deadline.
  await create(
    client,
    counterServices,
    counterService('tight', namespace.name, {
      replicas: 0,
      work: { durationSeconds: 30 },
      drain: { gracePeriodSecondsOverride: 20 },
    }),
  );
  const refused = await waitFor('BudgetAccepted=False', async () => {
    const c = condition(
      await get<KubeObject>(client, counterServices, namespace.name, 'tight'),
      'BudgetAccepted',
    );
    return c?.status === 'False' ? c : undefined;
  });
  expect(refused.reason).toBe('DrainTimeoutTooShort');
  for (const part of [
    'the drain deadline is 13s after SIGTERM',
    'spec.drain.gracePeriodSecondsOverride=20',
    'propagationSeconds=5 (default of the built-in policy)',
    'cleanupSeconds=2 (default of the built-in policy)',
    'spec.work.durationSeconds=30',
    '(INCREMENT_LATENCY_ALLOWANCE_MS) = 30.5s',
    'at least 38',
  ]) {
    expect(refused.message).toContain(part);
  }
  const event = await waitFor('the BudgetRejected event', async () =>
    (await eventsFor(client, namespace.name, 'tight')).find((e) => e.reason === 'BudgetRejected'),
  );
  expect(event.message).toBe(refused.message);
  expect(await get(client, coreTypes.deployment, namespace.name, 'tight')).toBeUndefined();

  await mergePatch(client, counterServices, namespace.name, 'tight', {
    spec: { drain: { gracePeriodSecondsOverride: 38 } },
  });
  const deployment = await waitFor('the Deployment with 38 s', async () => {
    const d = await get<
      KubeObject & { spec?: { template?: { spec?: { terminationGracePeriodSeconds?: number } } } }
    >(client, coreTypes.deployment, namespace.name, 'tight');
    return d?.spec?.template?.spec?.terminationGracePeriodSeconds === 38 ? d : undefined;
  });
  expect(deployment).toBeDefined();
});
