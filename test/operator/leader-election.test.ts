// Two operator replicas against the real API server: one leads and reconciles, the other stands by
// (ready, but writing nothing); when the leader exits it releases the Lease and the standby takes
// over at once; when a leader dies without releasing, the standby takes over after the lease expires.
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import type { KubeClient } from '../../operator/runtime/client.ts';
import { coreTypes, type KubeObject } from '../../operator/runtime/resources.ts';
import {
  adminClient,
  counterService,
  counterServices,
  create,
  get,
  installCrds,
  OperatorProcess,
  testNamespace,
  waitFor,
} from './operator-harness.ts';

const kubeconfig = inject('kubeconfig');
let client: KubeClient;
let namespace: { name: string; remove: () => Promise<void> };
const replicas: OperatorProcess[] = [];
const leaseName = `lastcall-leader-${process.pid}`;

type Lease = KubeObject & { spec: { holderIdentity?: string | null; leaseTransitions?: number } };

function startReplica(identity: string): Promise<OperatorProcess> {
  return OperatorProcess.watching(kubeconfig, namespace.name, leaseName, [
    '--identity',
    identity,
    '--lease-duration',
    '6',
    '--renew-deadline',
    '4',
    '--retry-period',
    '1',
  ]).then((replica) => {
    replicas.push(replica);
    return replica;
  });
}

const lease = () => get<Lease>(client, coreTypes.lease, 'default', leaseName);
const leaderOf = async (candidates: OperatorProcess[]) => {
  const flags = await Promise.all(candidates.map((r) => r.metric('lastcall_leader')));
  return flags.filter((f) => f === 1).length === 1 ? candidates[flags.indexOf(1)] : undefined;
};

beforeAll(async () => {
  client = await adminClient(kubeconfig);
  await installCrds(client);
  namespace = await testNamespace(client, 'op-leader');
});

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.stop('SIGKILL')));
  await client
    ?.request('DELETE', `/apis/coordination.k8s.io/v1/namespaces/default/leases/${leaseName}`)
    .catch(() => undefined);
  await namespace?.remove();
  await client?.close();
});

describe('leader election', () => {
  test('of two replicas one leads and reconciles; both are ready; the leader hands over on SIGTERM', async () => {
    const [a, b] = await Promise.all([startReplica('replica-a'), startReplica('replica-b')]);
    if (!a || !b) throw new Error('replicas did not start');
    const leader = await waitFor('exactly one leader', () => leaderOf([a, b]), 20_000);
    const standby = leader === a ? b : a;
    expect((await lease())?.spec.holderIdentity).toBe(leader === a ? 'replica-a' : 'replica-b');
    await waitFor(
      'both ready',
      async () => (await a.probe('/readyz')) === 200 && (await b.probe('/readyz')) === 200,
    );

    await create(client, counterServices, counterService('first', namespace.name));
    await waitFor(
      'first reconciled',
      () => get(client, coreTypes.deployment, namespace.name, 'first'),
      10_000,
    );
    // The Deployment is applied before the reconcile ends (its first status
    // write waits for the Deployment's status), so wait for the count too.
    await waitFor(
      'the leader counted the reconcile',
      async () => (await leader.metric('lastcall_reconcile_total')) > 0,
      10_000,
    );
    expect(await standby.metric('lastcall_reconcile_total')).toBe(0);
    expect(await standby.writes()).toBe(0);

    const stoppedAt = Date.now();
    expect(await leader.stop('SIGTERM')).toBe(0);
    expect(leader.logs.some((l) => l.msg === 'released the lease')).toBe(true);
    await waitFor('standby leads', async () => (await standby.metric('lastcall_leader')) === 1, 10_000);
    // Released, not expired: the takeover does not wait out the 6 s lease.
    expect(Date.now() - stoppedAt).toBeLessThan(5_000);

    await create(client, counterServices, counterService('second', namespace.name));
    await waitFor('second reconciled by the new leader', () =>
      get(client, coreTypes.deployment, namespace.name, 'second'),
    );
    expect(await standby.metric('lastcall_reconcile_total')).toBeGreaterThan(0);
  });

  test('a leader that dies without releasing is replaced once its lease expires', async () => {
    const current = await waitFor('a current leader', () =>
      leaderOf(replicas.filter((r) => r.child.exitCode === null)),
    );
    const next = await startReplica('replica-c');
    await waitFor('replica-c ready', async () => (await next.probe('/readyz')) === 200);
    expect(await next.metric('lastcall_leader')).toBe(0);
    const transitions = (await lease())?.spec.leaseTransitions ?? 0;

    const killedAt = Date.now();
    await current.stop('SIGKILL');
    await waitFor('replica-c leads', async () => (await next.metric('lastcall_leader')) === 1, 20_000);
    const takeover = Date.now() - killedAt;
    // Not before the 6 s lease ran out (measured from its last renewal, up to 1 s before the kill).
    expect(takeover).toBeGreaterThan(4_000);
    expect(takeover).toBeLessThan(15_000);
    expect((await lease())?.spec).toMatchObject({
      holderIdentity: 'replica-c',
      leaseTransitions: transitions + 1,
    });

    await create(client, counterServices, counterService('third', namespace.name));
    await waitFor('third reconciled', () => get(client, coreTypes.deployment, namespace.name, 'third'));
  });
});
