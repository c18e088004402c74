// DrainPolicy against the real API server: a policy change re-reconciles the CounterServices it
// affects and changes their grace period; a CounterService outside the bounds is refused with a
// condition and a Warning event, and its Deployment keeps the budget it had.
import { describe, expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes, type KubeObject } from '../../kube/resources.ts';
import {
  condition,
  counterService,
  counterServices,
  create,
  drainPolicies,
  eventsFor,
  get,
  mergePatch,
  remove,
} from './operator-harness.ts';
import { useOperatorTestbed } from './operator-testbed.ts';

type Deployment = KubeObject & { spec: { template: { spec: { terminationGracePeriodSeconds: number } } } };

const policyName = `test-policy-${process.pid}`;
const testbed = useOperatorTestbed({
  namespacePrefix: 'op-policy',
  // The policy selects this namespace only (by a label unique to this run): DrainPolicies are
  // cluster-scoped and other tests share the cluster.
  namespaceLabels: { 'lastcall.dev/policy-test': policyName },
  cleanUp: async ({ client }) => {
    await remove(client, drainPolicies, undefined, policyName).catch(() => undefined);
  },
});

const grace = async (name: string) =>
  (await get<Deployment>(testbed.client, coreTypes.deployment, testbed.namespace, name))?.spec.template.spec
    .terminationGracePeriodSeconds;

describe('DrainPolicy', () => {
  test('a policy change re-reconciles the CounterServices it selects and changes the grace period', async () => {
    await create(testbed.client, counterServices, counterService('gamma', testbed.namespace));
    await waitFor('built-in budget 15s', async () => (await grace('gamma')) === 15);

    await create(testbed.client, drainPolicies, {
      apiVersion: 'lastcall.dev/v1alpha1',
      kind: 'DrainPolicy',
      metadata: { name: policyName },
      spec: {
        namespaceSelector: { matchLabels: { 'lastcall.dev/policy-test': policyName } },
        defaults: { cleanupSeconds: 4, marginSeconds: 6 },
        bounds: { minGracePeriodSeconds: 5, maxGracePeriodSeconds: 60 },
      },
    });
    // 5 propagation + 5 work + 4 cleanup + 6 margin.
    await waitFor('policy budget 20s', async () => (await grace('gamma')) === 20);
    // Status follows the Deployment.
    const budget = await waitFor('status budget from the policy', async () => {
      const cs = await get(testbed.client, counterServices, testbed.namespace, 'gamma');
      const b = (cs?.status as { budget?: { policy: string; formula: string } } | undefined)?.budget;
      return b?.policy === policyName ? b : undefined;
    });
    expect(budget.formula).toBe('5 + 5 + 4 + 6 = 20s');

    await mergePatch(testbed.client, drainPolicies, undefined, policyName, {
      spec: { defaults: { marginSeconds: 1 } },
    });
    await waitFor('policy budget 15s after the margin change', async () => (await grace('gamma')) === 15);
    // And its status, written after the Deployment: the next test changes the spec at once, and a
    // spec change landing before this write makes it conflict and be redone from the new spec.
    const margin1 = await waitFor('status budget after the margin change', async () => {
      const cs = await get(testbed.client, counterServices, testbed.namespace, 'gamma');
      const b = (cs?.status as { budget?: { gracePeriodSeconds: number; formula: string } } | undefined)
        ?.budget;
      return b?.gracePeriodSeconds === 15 ? b : undefined;
    });
    expect(margin1.formula).toBe('5 + 5 + 4 + 1 = 15s');
  });

  test('a CounterService outside the bounds is refused with a condition and an event, not clamped', async () => {
    // 5 + 50 + 4 + 1 = 60 is inside the bounds; 5 + 100 + 4 + 1 = 110 is not.
    await mergePatch(testbed.client, counterServices, testbed.namespace, 'gamma', {
      spec: { work: { durationSeconds: 100 } },
    });
    const refused = await waitFor('BudgetAccepted=False', async () => {
      const cs = await get(testbed.client, counterServices, testbed.namespace, 'gamma');
      return condition(cs, 'BudgetAccepted')?.status === 'False' ? cs : undefined;
    });
    expect(condition(refused, 'BudgetAccepted')).toMatchObject({ reason: 'GracePeriodOutOfBounds' });
    expect(condition(refused, 'BudgetAccepted')?.message).toContain('outside the range 5-60');
    expect(condition(refused, 'Degraded')).toMatchObject({ status: 'True', reason: 'BudgetRejected' });
    expect((refused.status as { phase: string }).phase).toBe('Rejected');
    // The pods keep the budget in force.
    expect(await grace('gamma')).toBe(15);
    expect((refused.status as { budget: { gracePeriodSeconds: number } }).budget.gracePeriodSeconds).toBe(15);
    const warning = await waitFor('BudgetRejected event', async () =>
      (await eventsFor(testbed.client, testbed.namespace, 'gamma')).find(
        (e) => e.reason === 'BudgetRejected',
      ),
    );
    expect(warning.type).toBe('Warning');
    expect(warning.message).toContain('spec.work.durationSeconds=100');

    // Widening the bounds accepts it again.
    await mergePatch(testbed.client, drainPolicies, undefined, policyName, {
      spec: { bounds: { maxGracePeriodSeconds: 300 } },
    });
    await waitFor('accepted with 110s', async () => (await grace('gamma')) === 110);
    // The status is written after the Deployment is applied: wait for it rather than reading it
    // once, or the read can land between the two writes.
    const accepted = await waitFor('BudgetAccepted=True', async () => {
      const cs = await get(testbed.client, counterServices, testbed.namespace, 'gamma');
      return condition(cs, 'BudgetAccepted')?.status === 'True' ? cs : undefined;
    });
    expect(condition(accepted, 'Degraded')?.status).toBe('False');
    expect((accepted.status as { budget: { gracePeriodSeconds: number } }).budget.gracePeriodSeconds).toBe(
      110,
    );
  });

  test('deleting the policy falls back to the built-in defaults', async () => {
    await remove(testbed.client, drainPolicies, undefined, policyName);
    // 5 + 100 + 2 + 3 (built-in cleanup and margin; built-in bounds allow up to 3600).
    await waitFor('built-in budget 110s', async () => (await grace('gamma')) === 110);
    const cs = await waitFor('budget from built-in', async () => {
      const live = await get(testbed.client, counterServices, testbed.namespace, 'gamma');
      return (live?.status as { budget?: { policy: string } })?.budget?.policy === 'built-in'
        ? live
        : undefined;
    });
    expect((cs.status as { budget: { formula: string } }).budget.formula).toBe('5 + 100 + 2 + 3 = 110s');
  });
});
