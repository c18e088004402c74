// Honest budgets against the real API server (issue 10, point 2): a budget whose drain deadline
// cannot cover the work plus the workload's latency allowance passes admission when its terms come
// from a policy (CEL sees only the object), and the operator refuses it, naming every term.
import { expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes, type KubeObject } from '../../kube/resources.ts';
import {
  condition,
  counterService,
  counterServices,
  create,
  eventsFor,
  get,
  mergePatch,
} from './operator-harness.ts';
import { useOperatorTestbed } from './operator-testbed.ts';

const testbed = useOperatorTestbed({ namespacePrefix: 'op-honest' });

test('an override of 20 s for 30 s of work is refused with every term named; 38 s is accepted', async () => {
  // replicas 0: no pod is needed to judge a budget. Propagation and cleanup come from the
  // built-in policy (5 and 2), so no CEL rule can see the 13 s drain deadline.
  await create(
    testbed.client,
    counterServices,
    counterService('tight', testbed.namespace, {
      replicas: 0,
      work: { durationSeconds: 30 },
      drain: { gracePeriodSecondsOverride: 20 },
    }),
  );
  const refused = await waitFor('BudgetAccepted=False', async () => {
    const c = condition(
      await get<KubeObject>(testbed.client, counterServices, testbed.namespace, 'tight'),
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
    (await eventsFor(testbed.client, testbed.namespace, 'tight')).find((e) => e.reason === 'BudgetRejected'),
  );
  expect(event.message).toBe(refused.message);
  expect(await get(testbed.client, coreTypes.deployment, testbed.namespace, 'tight')).toBeUndefined();

  await mergePatch(testbed.client, counterServices, testbed.namespace, 'tight', {
    spec: { drain: { gracePeriodSecondsOverride: 38 } },
  });
  const deployment = await waitFor('the Deployment with 38 s', async () => {
    const d = await get<
      KubeObject & { spec?: { template?: { spec?: { terminationGracePeriodSeconds?: number } } } }
    >(testbed.client, coreTypes.deployment, testbed.namespace, 'tight');
    return d?.spec?.template?.spec?.terminationGracePeriodSeconds === 38 ? d : undefined;
  });
  expect(deployment).toBeDefined();
});
