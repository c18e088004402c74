// Two operator replicas against the real API server: one leads and reconciles, the other stands by
// (ready, but writing nothing); when the leader exits it releases the Lease and the standby takes
// over at once; when a leader dies without releasing, the standby takes over after the lease expires.
import { describe, expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes, type KubeObject, resourcePath } from '../../kube/resources.ts';
import { counterService, counterServices, create, get, OperatorProcess } from './operator-harness.ts';
import { useOperatorTestbed } from './operator-testbed.ts';

const replicas: OperatorProcess[] = [];
const leaseName = `lastcall-leader-${process.pid}`;
// The replicas are the tests' own: each starts with the flags its case needs.
const testbed = useOperatorTestbed({
  namespacePrefix: 'op-leader',
  operator: false,
  cleanUp: async ({ client }) => {
    await Promise.all(replicas.map((r) => r.stop('SIGKILL')));
    await client
      .request('DELETE', resourcePath(coreTypes.lease, { namespace: 'default', name: leaseName }))
      .catch(() => undefined);
  },
});

type Lease = KubeObject & {
  spec: { holderIdentity?: string | null; leaseTransitions?: number; renewTime?: string };
};

function startReplica(identity: string): Promise<OperatorProcess> {
  return OperatorProcess.watching(testbed.kubeconfig, testbed.namespace, leaseName, [
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

const lease = () => get<Lease>(testbed.client, coreTypes.lease, 'default', leaseName);
const leasePath = resourcePath(coreTypes.lease, { namespace: 'default' });

/**
 * Every version of the Lease from `from` on, as the API server's watch delivers them (each write
 * once, in order), with when the test received it: a poll could miss a record that lived 100 ms.
 */
function watchLease(from: Lease) {
  const records: Array<{ holder: string; renewTime: string; seenAt: number }> = [];
  const stop = new AbortController();
  const done = testbed.client
    .watch<Lease>(
      leasePath,
      { fieldSelector: `metadata.name=${leaseName}`, resourceVersion: from.metadata.resourceVersion },
      (event) => {
        if (event.type !== 'ADDED' && event.type !== 'MODIFIED') return;
        records.push({
          holder: event.object.spec.holderIdentity ?? '',
          renewTime: event.object.spec.renewTime ?? '',
          seenAt: Date.now(),
        });
      },
      { signal: stop.signal },
    )
    .catch(() => undefined);
  return {
    records,
    close: async () => {
      stop.abort();
      await done;
    },
  };
}
const leaderOf = async (candidates: OperatorProcess[]) => {
  const flags = await Promise.all(candidates.map((r) => r.metric('lastcall_leader')));
  return flags.filter((f) => f === 1).length === 1 ? candidates[flags.indexOf(1)] : undefined;
};

describe('leader election', () => {
  test('of two replicas one leads and reconciles; both are ready; the leader hands over on SIGTERM', async () => {
    const [a, b] = await Promise.all([startReplica('replica-a'), startReplica('replica-b')]);
    if (!a || !b) throw new Error('replicas did not start');
    const leader = await waitFor('exactly one leader', () => leaderOf([a, b]));
    const standby = leader === a ? b : a;
    expect((await lease())?.spec.holderIdentity).toBe(leader === a ? 'replica-a' : 'replica-b');
    await waitFor(
      'both ready',
      async () => (await a.probe('/readyz')) === 200 && (await b.probe('/readyz')) === 200,
    );

    await create(testbed.client, counterServices, counterService('first', testbed.namespace));
    await waitFor('first reconciled', () =>
      get(testbed.client, coreTypes.deployment, testbed.namespace, 'first'),
    );
    // The Deployment is applied before the reconcile ends (its first status
    // write waits for the Deployment's status), so wait for the count too.
    await waitFor(
      'the leader counted the reconcile',
      async () => (await leader.metric('lastcall_reconcile_total')) > 0,
    );
    expect(await standby.metric('lastcall_reconcile_total')).toBe(0);
    expect(await standby.writes()).toBe(0);

    const leaderIdentity = leader === a ? 'replica-a' : 'replica-b';
    const standbyIdentity = leader === a ? 'replica-b' : 'replica-a';
    const held = await lease();
    if (!held) throw new Error('the lease is gone');
    const history = watchLease(held);
    try {
      expect(await leader.stop('SIGTERM')).toBe(0);
      expect(leader.logs.some((l) => l.msg === 'released the lease')).toBe(true);
      await waitFor('standby leads', async () => (await standby.metric('lastcall_leader')) === 1);
      await waitFor('the takeover in the watch', () =>
        history.records.some((r) => r.holder === standbyIdentity),
      );
    } finally {
      await history.close();
    }
    // Released, not expired: the Lease went from the leader to no holder to the standby, and the
    // standby took it before the 6 s lease could have run out. Expiry counts from the leader's last
    // renewal (the standby's clock starts when it sees it), so measure from that renewal rather than
    // from the SIGTERM, whose shutdown (last reconciles first) a loaded machine stretches, and to the
    // standby's own acquireTime/renewTime in the Lease rather than to when the test's watch saw it.
    const records = [
      { holder: held.spec.holderIdentity ?? '', renewTime: held.spec.renewTime ?? '', seenAt: 0 },
      ...history.records,
    ];
    const holders = records.map((r) => r.holder);
    const takeover = holders.indexOf(standbyIdentity);
    expect(holders.slice(0, takeover).at(-1), holders.join(' -> ')).toBe('');
    const lastRenewal = records
      .slice(0, takeover)
      .filter((r) => r.holder === leaderIdentity)
      .at(-1);
    expect(lastRenewal, holders.join(' -> ')).toBeDefined();
    const takenAt = Date.parse(records[takeover]?.renewTime ?? '');
    expect(takenAt - Date.parse(lastRenewal?.renewTime ?? '')).toBeLessThan(6_000);

    await create(testbed.client, counterServices, counterService('second', testbed.namespace));
    await waitFor('second reconciled by the new leader', () =>
      get(testbed.client, coreTypes.deployment, testbed.namespace, 'second'),
    );
    // The Deployment is applied before the reconcile ends and is counted: wait for the count.
    await waitFor(
      'the new leader counted the reconcile',
      async () => (await standby.metric('lastcall_reconcile_total')) > 0,
    );
  });

  test('a leader that dies without releasing is replaced once its lease expires', async () => {
    const current = await waitFor('a current leader', () =>
      leaderOf(replicas.filter((r) => r.child.exitCode === null)),
    );
    const next = await startReplica('replica-c');
    await waitFor('replica-c ready', async () => (await next.probe('/readyz')) === 200);
    expect(await next.metric('lastcall_leader')).toBe(0);
    const transitions = (await lease())?.spec.leaseTransitions ?? 0;

    await current.stop('SIGKILL');
    // The dead leader's last renewal. (A renewal it sent just before dying and the API server
    // applies after this read would only make the bound below looser.)
    const lastRenewal = (await lease())?.spec;
    expect(lastRenewal?.holderIdentity).not.toBe('replica-c');
    // Once the 6 s lease ran out, give or take a loaded machine: the deadline only bounds a hang.
    await waitFor('replica-c leads', async () => (await next.metric('lastcall_leader')) === 1, {
      timeoutMs: 60_000,
    });
    // Not before the 6 s lease ran out: replica-c counts the 6 s from when it saw that renewal,
    // which is after the renewal was written (the renewal may be up to the 4 s renew deadline
    // before the kill, so the kill itself is no reference point). Its own renewTime in the Lease
    // says when it took over; the test, which sees the takeover later still, can only agree.
    const takenOver = await lease();
    expect(
      Date.parse(takenOver?.spec.renewTime ?? '') - Date.parse(lastRenewal?.renewTime ?? ''),
    ).toBeGreaterThanOrEqual(6_000);
    expect(Date.now() - Date.parse(lastRenewal?.renewTime ?? '')).toBeGreaterThanOrEqual(6_000);
    expect((await lease())?.spec).toMatchObject({
      holderIdentity: 'replica-c',
      leaseTransitions: transitions + 1,
    });

    await create(testbed.client, counterServices, counterService('third', testbed.namespace));
    await waitFor('third reconciled', () =>
      get(testbed.client, coreTypes.deployment, testbed.namespace, 'third'),
    );
  });
});
