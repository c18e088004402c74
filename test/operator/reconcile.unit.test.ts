// The reconcile against in-memory caches, a fake applier and a fake recorder: what it writes, what
// status and events it produces, that it writes nothing in steady state, and that an aborted
// signal stops its writes. The same reconcile against the real API server: reconcile.test.ts.
import { describe, expect, test } from 'vitest';
import { ApiError } from '../../kube/errors.ts';
import type { KubeObject } from '../../kube/resources.ts';
import {
  applyPolicyDefaults,
  type CounterServiceStatus,
  type DrainPolicy,
  type DrainRecord,
} from '../../operator/api/types.ts';
import type { PodLike } from '../../operator/drains.ts';
import { DegradedError } from '../../operator/reconciler.ts';
import type { Deployment } from '../../operator/status.ts';
import { reconcilerWorld } from './reconciler-fakes.ts';

type World = ReturnType<typeof reconcilerWorld>;

const statusOf = (world: World, key: string) =>
  world.counterServices.get(key)?.status as CounterServiceStatus | undefined;
const conditionOf = (status: CounterServiceStatus | undefined, type: string) =>
  status?.conditions?.find((c) => c.type === type);

/**
 * Two reconciles around the Deployment reporting: the first status is put off until the Deployment
 * has one, so it takes both for a CounterService to be applied and its status written.
 */
async function reconcileAndSettle(world: World, key: string) {
  await world.reconcile(key);
  world.deploymentSettles(key);
  await world.reconcile(key);
}

/** After a refusal is cured: the Degraded condition cleared and the phase back to Ready. */
function expectRecovered(world: World, key: string) {
  expect(conditionOf(statusOf(world, key), 'Degraded')).toMatchObject({
    status: 'False',
    reason: 'AsExpected',
  });
  expect(statusOf(world, key)?.phase).toBe('Ready');
}

/** A new CounterService reconciled until its Deployment reports and its status is written. */
async function settled(spec: Record<string, unknown> = {}) {
  const world = reconcilerWorld();
  const key = world.addCounterService('demo', 'team-a', spec);
  await reconcileAndSettle(world, key);
  world.applier.writes.length = 0;
  world.recorder.events.length = 0;
  return { world, key };
}

describe('reconcile: a new CounterService', () => {
  test('applies its Deployment, Service and PDB with the computed budget, and says so in one event', async () => {
    const world = reconcilerWorld();
    const key = world.addCounterService('demo', 'team-a');
    await world.reconcile(key);

    expect(world.writeLog().sort()).toEqual([
      'apply Deployment team-a/demo',
      'apply PodDisruptionBudget team-a/demo',
      'apply Service team-a/demo',
    ]);
    const deployment = world.deployments.get(key);
    // 5 propagation + 5 work + 2 cleanup + 3 margin: the built-in policy.
    expect(deployment?.spec?.template?.spec?.terminationGracePeriodSeconds).toBe(15);
    expect(deployment?.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'CounterService', name: 'demo', uid: 'uid-cs-demo', controller: true }),
    ]);
    expect(world.services.get(key)).toBeDefined();
    expect(world.podDisruptionBudgets.get(key)).toBeDefined();
    expect(world.recorder.events).toEqual([
      {
        about: key,
        type: 'Normal',
        reason: 'Created',
        message:
          'created Deployment demo (grace period 15s, image lastcall/workload:v1, replicas 1), Service demo, PodDisruptionBudget demo',
      },
    ]);
  });

  test('puts its first status off until the Deployment reports, then writes it once', async () => {
    const world = reconcilerWorld();
    const key = world.addCounterService('demo', 'team-a');
    const first = await world.reconcile(key);
    // The Deployment controller gives a new Deployment its status within milliseconds: a status
    // written before it would be replaced at once.
    expect(first?.requeueAfterMs).toBeGreaterThan(0);
    expect(world.writeLog().filter((w) => w.startsWith('applyStatus'))).toEqual([]);

    world.deploymentSettles(key);
    expect(await world.reconcile(key)).toBeUndefined();
    expect(world.writeLog().filter((w) => w.startsWith('applyStatus'))).toEqual([
      'applyStatus CounterService team-a/demo',
    ]);
    const status = statusOf(world, key);
    expect(status).toMatchObject({ phase: 'Ready', ready: '1/1', observedGeneration: 1 });
    expect(status?.budget).toMatchObject({ gracePeriodSeconds: 15, formula: '5 + 5 + 2 + 3 = 15s' });
    expect(conditionOf(status, 'BudgetAccepted')).toMatchObject({ status: 'True', reason: 'WithinBounds' });
    expect(conditionOf(status, 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    expect(status?.lastRollout).toMatchObject({ toImage: 'lastcall/workload:v1' });
    expect(world.recorder.events.map((e) => e.reason)).toEqual(['Created', 'RolloutComplete']);
  });

  test('a stalled controller-manager still gets a status after the bounded wait', async () => {
    let now = Date.now();
    const world = reconcilerWorld({ now: () => new Date(now) });
    const key = world.addCounterService('demo', 'team-a');
    await world.reconcile(key);
    const deployment = world.deployments.get(key) as Deployment;
    // The wait is measured from the Deployment's creation.
    now = Date.parse(deployment.metadata.creationTimestamp ?? '') + 5_001;
    expect(await world.reconcile(key)).toBeUndefined();
    expect(statusOf(world, key)).toMatchObject({ phase: 'Progressing', ready: '0/1' });
    expect(conditionOf(statusOf(world, key), 'Ready')).toMatchObject({ reason: 'DeploymentPending' });
  });
});

describe('reconcile: steady state', () => {
  test('a settled CounterService reconciled again writes nothing and records nothing', async () => {
    const { world, key } = await settled();
    for (let i = 0; i < 3; i++) expect(await world.reconcile(key)).toBeUndefined();
    expect(world.writeLog()).toEqual([]);
    expect(world.recorder.events).toEqual([]);
  });

  test('a hand edit of the grace period is put back, and named a drift correction', async () => {
    const { world, key } = await settled();
    const live = world.deployments.get(key) as Deployment;
    const edited = structuredClone(live);
    if (edited.spec?.template?.spec) edited.spec.template.spec.terminationGracePeriodSeconds = 99;
    edited.metadata.resourceVersion = 'edited';
    world.deployments.set(edited);

    await world.reconcile(key);
    // Only the Deployment is applied (its status changes too: the apply made a new generation).
    expect(world.writeLog().filter((w) => w.startsWith('apply '))).toEqual(['apply Deployment team-a/demo']);
    expect(world.deployments.get(key)?.spec?.template?.spec?.terminationGracePeriodSeconds).toBe(15);
    expect(world.recorder.events).toEqual([
      expect.objectContaining({
        reason: 'DriftCorrected',
        message: 'put back hand-edited fields of Deployment demo',
      }),
    ]);
  });

  test('a spec change updates the Deployment and names what changed', async () => {
    const { world, key } = await settled();
    const cs = world.counterServices.get(key);
    if (!cs) throw new Error('no CounterService');
    world.counterServices.set({
      ...cs,
      metadata: { ...cs.metadata, generation: 2, resourceVersion: '2' },
      spec: { ...cs.spec, image: 'lastcall/workload:v2', work: { durationSeconds: 10 } },
    });
    await world.reconcile(key);
    expect(world.writeLog()).toEqual([
      'apply Deployment team-a/demo',
      'applyStatus CounterService team-a/demo',
    ]);
    expect(world.recorder.events[0]).toMatchObject({
      reason: 'Updated',
      message:
        'updated Deployment demo (grace period 15s -> 20s, image lastcall/workload:v1 -> lastcall/workload:v2)',
    });
    expect(statusOf(world, key)?.lastRollout).toMatchObject({
      fromImage: 'lastcall/workload:v1',
      toImage: 'lastcall/workload:v2',
    });
  });
});

describe('reconcile: refusals', () => {
  test('a budget outside the bounds applies nothing and is refused in status and one Warning event', async () => {
    const { world, key } = await settled();
    const cs = world.counterServices.get(key);
    if (!cs) throw new Error('no CounterService');
    world.counterServices.set({
      ...cs,
      metadata: { ...cs.metadata, generation: 2, resourceVersion: '2' },
      spec: { ...cs.spec, drain: { ...cs.spec.drain, gracePeriodSecondsOverride: 5000 } },
    });
    await world.reconcile(key);
    expect(world.writeLog()).toEqual(['applyStatus CounterService team-a/demo']);
    const status = statusOf(world, key);
    expect(status?.phase).toBe('Rejected');
    expect(conditionOf(status, 'BudgetAccepted')).toMatchObject({
      status: 'False',
      reason: 'GracePeriodOutOfBounds',
      message: expect.stringContaining('spec.drain.gracePeriodSecondsOverride=5000'),
    });
    expect(conditionOf(status, 'Degraded')).toMatchObject({ status: 'True', reason: 'BudgetRejected' });
    // The budget in force is still the one the pods have.
    expect(status?.budget?.gracePeriodSeconds).toBe(15);
    expect(world.recorder.events).toEqual([
      expect.objectContaining({ type: 'Warning', reason: 'BudgetRejected' }),
    ]);

    // The same refusal again: no write, no second event.
    await world.reconcile(key);
    expect(world.writeLog()).toHaveLength(1);
    expect(world.recorder.events).toHaveLength(1);
  });

  test('a cached object of its name controlled by something else is not taken over', async () => {
    const world = reconcilerWorld();
    const key = world.addCounterService('demo', 'team-a');
    world.services.set({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'demo',
        namespace: 'team-a',
        resourceVersion: '7',
        labels: { 'app.kubernetes.io/managed-by': 'lastcall' },
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'other', uid: 'x', controller: true }],
      },
    });
    await expect(world.reconcile(key)).rejects.toThrow(DegradedError);
    expect(world.writeLog()).toEqual(['applyStatus CounterService team-a/demo']);
    expect(conditionOf(statusOf(world, key), 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'NameConflict',
      message: expect.stringContaining(
        'Service team-a/demo exists and is not controlled by this CounterService (controller: ConfigMap other)',
      ),
    });
    expect(world.recorder.events).toEqual([
      expect.objectContaining({ type: 'Warning', reason: 'NameConflict' }),
    ]);
  });

  test('an object of its name the caches cannot see (no managed-by label) is found, left alone, and retried until gone', async () => {
    const world = reconcilerWorld();
    const key = world.addCounterService('demo', 'team-a');
    // A user's own Service and PDB: not labelled, so the filtered caches never see them.
    for (const kind of ['Service', 'PodDisruptionBudget']) {
      world.unlabelled.set(`${kind} team-a/demo`, { metadata: { name: 'demo', namespace: 'team-a' } });
    }
    await expect(world.reconcile(key)).rejects.toThrow(
      'Service team-a/demo exists and is not controlled by this CounterService (no controller); ' +
        'PodDisruptionBudget team-a/demo exists and is not controlled by this CounterService (no controller): ' +
        'nothing is applied until they are renamed or deleted, or the CounterService is renamed',
    );
    // Nothing applied, not even the Deployment whose name is free.
    expect(world.writeLog()).toEqual(['applyStatus CounterService team-a/demo']);
    const status = statusOf(world, key);
    expect(status?.phase).toBe('Degraded');
    expect(conditionOf(status, 'Degraded')).toMatchObject({ status: 'True', reason: 'NameConflict' });
    // No Deployment is coming: not "waiting for the Deployment".
    expect(conditionOf(status, 'Progressing')).toMatchObject({ status: 'False', reason: 'NameConflict' });
    expect(world.recorder.events).toEqual([
      {
        about: key,
        type: 'Warning',
        reason: 'NameConflict',
        message: expect.stringContaining('Service team-a/demo exists'),
      },
    ]);

    // The retry finds the same conflict: no new write, no new event.
    await expect(world.reconcile(key)).rejects.toThrow(DegradedError);
    expect(world.writeLog()).toHaveLength(1);
    expect(world.recorder.events).toHaveLength(1);

    // The user deletes them: the next retry applies everything and clears the condition.
    world.unlabelled.clear();
    await reconcileAndSettle(world, key);
    expect(
      world
        .writeLog()
        .filter((w) => w.startsWith('apply '))
        .sort(),
    ).toEqual([
      'apply Deployment team-a/demo',
      'apply PodDisruptionBudget team-a/demo',
      'apply Service team-a/demo',
    ]);
    expectRecovered(world, key);
  });

  test('names are looked up only while the caches lack them: none in steady state', async () => {
    const world = reconcilerWorld();
    const key = world.addCounterService('demo', 'team-a');
    await world.reconcile(key);
    expect(world.lookups.sort()).toEqual([
      'Deployment team-a/demo',
      'PodDisruptionBudget team-a/demo',
      'Service team-a/demo',
    ]);
    world.lookups.length = 0;
    world.deploymentSettles(key);
    await world.reconcile(key);
    await world.reconcile(key);
    expect(world.lookups).toEqual([]);
  });

  test('an object of its name that it controls but that lost its label is its own: applied, no conflict', async () => {
    const world = reconcilerWorld();
    const key = world.addCounterService('demo', 'team-a');
    world.unlabelled.set('Service team-a/demo', {
      metadata: {
        name: 'demo',
        namespace: 'team-a',
        ownerReferences: [
          {
            apiVersion: 'lastcall.dev/v1alpha1',
            kind: 'CounterService',
            name: 'demo',
            uid: 'uid-cs-demo',
            controller: true,
          },
        ],
      },
    });
    await world.reconcile(key);
    expect(world.writeLog()).toContain('apply Service team-a/demo');
    expect(world.services.get(key)?.metadata.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'lastcall',
    });
  });
});

describe('reconcile: objects the API server refuses', () => {
  const refused = () =>
    new ApiError(
      'PATCH',
      '/apis/apps/v1/namespaces/team-a/deployments/demo',
      422,
      {
        reason: 'Invalid',
        message:
          'Deployment.apps "demo" is invalid: spec.template.spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1',
      },
      '',
    );

  test("a refused object: Degraded with the server's message, a Warning event, the others applied, retried", async () => {
    const world = reconcilerWorld();
    const key = world.addCounterService('demo', 'team-a');
    world.applier.failWith.set('Deployment', refused());
    await expect(world.reconcile(key)).rejects.toThrow(DegradedError);
    // The Service and PDB do not wait for the Deployment.
    expect(world.services.get(key)).toBeDefined();
    expect(world.podDisruptionBudgets.get(key)).toBeDefined();
    const message =
      'Deployment demo was refused by the API server: 422 Invalid: Deployment.apps "demo" is invalid: ' +
      'spec.template.spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1';
    const status = statusOf(world, key);
    expect(status?.phase).toBe('Degraded');
    expect(conditionOf(status, 'Degraded')).toMatchObject({ status: 'True', reason: 'ApplyFailed', message });
    expect(conditionOf(status, 'Progressing')).toMatchObject({ status: 'False', reason: 'ApplyFailed' });
    expect(world.recorder.events).toEqual([
      expect.objectContaining({
        type: 'Normal',
        reason: 'Created',
        message: 'created Service demo, PodDisruptionBudget demo',
      }),
      { about: key, type: 'Warning', reason: 'ApplyFailed', message },
    ]);

    // Refused again on the retry: the same status and event, so nothing new is written or raised.
    await expect(world.reconcile(key)).rejects.toThrow(DegradedError);
    expect(world.writeLog().filter((w) => w.startsWith('applyStatus'))).toHaveLength(1);
    expect(world.recorder.events).toHaveLength(2);

    // Fixed (here: the server accepts it now): applied, and the condition clears.
    world.applier.failWith.clear();
    await reconcileAndSettle(world, key);
    expect(world.deployments.get(key)).toBeDefined();
    expectRecovered(world, key);
  });

  test('a failure a retry may cure (server error, network) is retried without touching status', async () => {
    const world = reconcilerWorld();
    const key = world.addCounterService('demo', 'team-a');
    world.applier.failWith.set(
      'Service',
      new ApiError('PATCH', '/api/v1/namespaces/team-a/services/demo', 503, undefined, 'unavailable'),
    );
    await expect(world.reconcile(key)).rejects.toThrow('503');
    expect(world.writeLog().filter((w) => w.startsWith('applyStatus'))).toEqual([]);
    expect(world.recorder.events.filter((e) => e.type === 'Warning')).toEqual([]);
  });
});

describe('reconcile: drains', () => {
  const terminatedPod = (name: string, uid: string, report: Record<string, number | string>): PodLike => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'team-a',
      uid,
      resourceVersion: '9',
      labels: { 'lastcall.dev/counterservice': 'demo' },
      deletionTimestamp: new Date().toISOString(),
      deletionGracePeriodSeconds: 15,
    },
    spec: { terminationGracePeriodSeconds: 15, containers: [{ name: 'workload' }] },
    status: {
      phase: 'Succeeded',
      containerStatuses: [
        {
          name: 'workload',
          state: {
            terminated: {
              exitCode: 0,
              reason: 'Completed',
              message: JSON.stringify(report),
              finishedAt: new Date().toISOString(),
            },
          },
        },
      ],
    },
  });

  test('a drained pod is counted in status once, with its event, and the ledger is settled', async () => {
    const { world, key } = await settled();
    const pod = terminatedPod('demo-abc', 'pod-uid-1', {
      mode: 'graceful',
      pendingAtSignal: 3,
      completed: 3,
      abandoned: 0,
      drainMs: 4200,
      exitCode: 0,
    });
    expect(world.ledger.observe({ type: 'updated', object: pod, old: pod })).toBe(key);
    await world.reconcile(key);
    expect(statusOf(world, key)?.drains).toMatchObject({ observed: 1, clean: 1, killed: 0 });
    expect(world.recorder.events).toEqual([expect.objectContaining({ type: 'Normal', reason: 'Drained' })]);
    expect(world.ledger.pending(key)).toEqual([]);

    // The DELETED event carries the same pod again: nothing more is counted or written.
    world.ledger.observe({ type: 'deleted', object: pod });
    await world.reconcile(key);
    expect(statusOf(world, key)?.drains?.observed).toBe(1);
    expect(world.writeLog()).toEqual(['applyStatus CounterService team-a/demo']);
  });

  test('a failed status write keeps the drains pending for the retry', async () => {
    const { world, key } = await settled();
    const pod = terminatedPod('demo-abc', 'pod-uid-1', { mode: 'graceful', drainMs: 100, exitCode: 0 });
    world.ledger.observe({ type: 'updated', object: pod, old: pod });
    world.applier.failWith.set('CounterService', new Error('409 conflict'));
    await expect(world.reconcile(key)).rejects.toThrow('409 conflict');
    expect(world.ledger.pending(key)).toHaveLength(1);
    expect(world.recorder.events).toEqual([]);

    world.applier.failWith.clear();
    await world.reconcile(key);
    expect(statusOf(world, key)?.drains?.observed).toBe(1);
    expect(world.recorder.events.map((e) => e.reason)).toEqual(['Drained']);
  });

  test('the records of a CounterService that is gone are forgotten', async () => {
    const { world, key } = await settled();
    const pod = terminatedPod('demo-abc', 'pod-uid-1', { mode: 'graceful', drainMs: 100, exitCode: 0 });
    world.ledger.observe({ type: 'updated', object: pod, old: pod });
    world.counterServices.delete(key);
    expect(await world.reconcile(key)).toBeUndefined();
    expect(world.ledger.pending(key)).toEqual([] as DrainRecord[]);
    expect(world.writeLog()).toEqual([]);
  });
});

describe('reconcile: nothing to do', () => {
  test('a CounterService being deleted, or in a terminating namespace, gets no write', async () => {
    const world = reconcilerWorld();
    const deleting = world.addCounterService('deleting', 'team-a');
    const cs = world.counterServices.get(deleting);
    if (!cs) throw new Error('no CounterService');
    world.counterServices.set({
      ...cs,
      metadata: { ...cs.metadata, deletionTimestamp: new Date().toISOString() },
    });
    await world.reconcile(deleting);

    const inTerminating = world.addCounterService('demo', 'leaving');
    world.namespaces.set({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'leaving', deletionTimestamp: new Date().toISOString() },
    });
    await world.reconcile(inTerminating);
    expect(world.writeLog()).toEqual([]);
  });
});

describe('reconcile: cancellation', () => {
  test('an aborted signal stops it before its first write', async () => {
    const world = reconcilerWorld();
    const key = world.addCounterService('demo', 'team-a');
    const lease = new AbortController();
    lease.abort(new Error('lost leadership'));
    await expect(world.reconcile(key, lease.signal)).rejects.toThrow('lost leadership');
    expect(world.writeLog()).toEqual([]);
    expect(world.recorder.events).toEqual([]);
  });

  test('a signal aborted during the applies stops every later write: no status, no events', async () => {
    const world = reconcilerWorld();
    const key = world.addCounterService('demo', 'team-a');
    const lease = new AbortController();
    // The lease is lost while the first apply is on its way: it was sent, nothing after it is.
    world.applier.beforeWrite = () => {
      if (world.applier.writes.length === 1) lease.abort(new Error('lost leadership'));
    };
    await expect(world.reconcile(key, lease.signal)).rejects.toThrow('lost leadership');
    expect(world.writeLog()).toHaveLength(1);
    expect(world.recorder.events).toEqual([]);
  });

  test('a signal aborted before the status write: the applies happened, the status write does not', async () => {
    const { world, key } = await settled();
    const cs = world.counterServices.get(key);
    if (!cs) throw new Error('no CounterService');
    world.counterServices.set({
      ...cs,
      metadata: { ...cs.metadata, generation: 2, resourceVersion: '2' },
      spec: { ...cs.spec, replicas: 3 },
    });
    const lease = new AbortController();
    world.applier.beforeWrite = (write) => {
      if (write.verb === 'applyStatus') lease.abort(new Error('lost leadership'));
    };
    await expect(world.reconcile(key, lease.signal)).rejects.toThrow('lost leadership');
    expect(world.writeLog()).toEqual(['apply Deployment team-a/demo']);
    expect(statusOf(world, key)?.observedGeneration).toBe(1);
  });
});

describe('reconcile: gradual policy rollouts', () => {
  const policy = (propagationSeconds: number, maxConcurrentRollouts?: number) =>
    ({
      apiVersion: 'lastcall.dev/v1alpha1',
      kind: 'DrainPolicy',
      metadata: { name: 'cluster', resourceVersion: String(propagationSeconds) },
      spec: applyPolicyDefaults({
        defaults: { propagationSeconds },
        ...(maxConcurrentRollouts ? { maxConcurrentRollouts } : {}),
      }),
    }) as DrainPolicy & KubeObject;

  /** Three settled CounterServices under a policy that lets one roll at a time. */
  async function three() {
    const world = reconcilerWorld();
    world.drainPolicies.set(policy(5, 1));
    const keys = ['a', 'b', 'c'].map((name) => world.addCounterService(name, 'team-a'));
    for (const key of keys) await world.reconcile(key);
    for (const key of keys) world.deploymentSettles(key);
    for (const key of keys) await world.reconcile(key);
    world.applier.writes.length = 0;
    return { world, keys };
  }
  const grace = (world: World, key: string) =>
    world.deployments.get(key)?.spec?.template?.spec?.terminationGracePeriodSeconds;

  test('a policy change rolls one CounterService at a time; the others keep their budget, queued', async () => {
    const { world, keys } = await three();
    world.drainPolicies.set(policy(10, 1));
    const results = [];
    for (const key of keys) results.push(await world.reconcile(key));

    expect(keys.map((key) => grace(world, key))).toEqual([20, 15, 15]);
    for (const key of keys.slice(1)) {
      const status = statusOf(world, key);
      expect(conditionOf(status, 'Progressing')).toMatchObject({ status: 'True', reason: 'RolloutQueued' });
      expect(conditionOf(status, 'Progressing')?.message).toContain(
        'DrainPolicy cluster changes the pod template (terminationGracePeriodSeconds 15s -> 20s)',
      );
      // status.budget is what the pods have.
      expect(status?.budget?.gracePeriodSeconds).toBe(15);
    }
    expect(results.slice(1)).toEqual([{ requeueAfterMs: 30_000 }, { requeueAfterMs: 30_000 }]);
    expect(world.rollouts.waiting().sort()).toEqual(keys.slice(1));

    // Still rolling: the queued ones stay queued, and write nothing more.
    world.applier.writes.length = 0;
    for (const key of keys.slice(1)) await world.reconcile(key);
    expect(world.writeLog()).toEqual([]);

    // The first settles: one more may go, then the last.
    world.deploymentSettles(keys[0] as string);
    for (const key of keys.slice(1)) await world.reconcile(key);
    expect(keys.map((key) => grace(world, key))).toEqual([20, 20, 15]);
    world.deploymentSettles(keys[1] as string);
    await world.reconcile(keys[2] as string);
    expect(keys.map((key) => grace(world, key))).toEqual([20, 20, 20]);
    expect(world.rollouts.waiting()).toEqual([]);
  });

  test("a user's spec change is never held back by the policy's limit", async () => {
    const { world, keys } = await three();
    world.drainPolicies.set(policy(10, 1));
    await world.reconcile(keys[0] as string);
    const cs = world.counterServices.get(keys[1] as string);
    if (!cs) throw new Error('no CounterService');
    world.counterServices.set({
      ...cs,
      metadata: { ...cs.metadata, generation: 2, resourceVersion: '2' },
      spec: { ...cs.spec, image: 'lastcall/workload:v2' },
    });
    await world.reconcile(keys[1] as string);
    expect(world.deployments.get(keys[1] as string)?.spec?.template?.spec?.containers?.[0]?.image).toBe(
      'lastcall/workload:v2',
    );
    expect(grace(world, keys[1] as string)).toBe(20);
  });

  test('a CounterService whose first status is not written yet waits like the others', async () => {
    const world = reconcilerWorld();
    world.drainPolicies.set(policy(5, 1));
    const keys = ['a', 'b'].map((name) => world.addCounterService(name, 'team-a'));
    // Created: Deployments applied, first statuses put off until the Deployments report.
    for (const key of keys) await world.reconcile(key);
    for (const key of keys) world.deploymentSettles(key);
    expect(keys.map((key) => statusOf(world, key))).toEqual([undefined, undefined]);
    world.drainPolicies.set(policy(10, 1));
    for (const key of keys) await world.reconcile(key);
    expect(keys.map((key) => grace(world, key))).toEqual([20, 15]);
    expect(conditionOf(statusOf(world, keys[1] as string), 'Progressing')?.reason).toBe('RolloutQueued');
  });

  test('without maxConcurrentRollouts every CounterService rolls at once', async () => {
    const { world, keys } = await three();
    world.drainPolicies.set(policy(10));
    for (const key of keys) await world.reconcile(key);
    expect(keys.map((key) => grace(world, key))).toEqual([20, 20, 20]);
  });
});

describe('reconcile: a Redis address outside the namespace (issue 10 point 7)', () => {
  const redis = (address: string) => ({
    redis: { address, key: 'demo', passwordSecretRef: { name: 'redis-auth', key: 'password' } },
  });

  test('is refused: nothing applied, Degraded/RedisAddressNotAllowed, one Warning event; a DrainPolicy allowing it clears it', async () => {
    const world = reconcilerWorld();
    const key = world.addCounterService('demo', 'team-a', redis('evil.example.com:6379'));
    await world.reconcile(key);
    expect(world.writeLog()).toEqual(['applyStatus CounterService team-a/demo']);
    const status = statusOf(world, key);
    expect(status?.phase).toBe('Degraded');
    expect(conditionOf(status, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'RedisAddressNotAllowed',
      message: expect.stringContaining('spec.redis.address=evil.example.com:6379 is not allowed'),
    });
    expect(conditionOf(status, 'Progressing')).toMatchObject({
      status: 'False',
      reason: 'RedisAddressNotAllowed',
    });
    expect(world.recorder.events).toEqual([
      {
        about: key,
        type: 'Warning',
        reason: 'RedisAddressNotAllowed',
        message: expect.stringContaining('a Service of namespace team-a'),
      },
    ]);
    // Again: nothing new written or said.
    await world.reconcile(key);
    expect(world.writeLog()).toHaveLength(1);
    expect(world.recorder.events).toHaveLength(1);

    world.drainPolicies.set({
      apiVersion: 'lastcall.dev/v1alpha1',
      kind: 'DrainPolicy',
      metadata: { name: 'external-redis', resourceVersion: '1' },
      spec: applyPolicyDefaults({ allowedRedisAddresses: ['**.example.com:6379'] }),
    } as DrainPolicy & KubeObject);
    await world.reconcile(key);
    expect(world.deployments.get(key)).toBeDefined();
    world.deploymentSettles(key);
    await world.reconcile(key);
    expect(conditionOf(statusOf(world, key), 'Degraded')).toMatchObject({ status: 'False' });
  });

  test('a Service of its own namespace needs no policy', async () => {
    const world = reconcilerWorld();
    const key = world.addCounterService('demo', 'team-a', redis('redis.team-a.svc.cluster.local:6379'));
    await world.reconcile(key);
    expect(world.deployments.get(key)).toBeDefined();
  });
});
