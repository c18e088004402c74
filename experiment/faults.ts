/**
 * Faults injected once during a rolling update (issue 11): the processes of the local cluster are
 * SIGKILLed or restarted, as a crash, an OOM kill or a control-plane upgrade would do it.
 *
 *   redis-kill          SIGKILL to the Redis container's process group; the kubelet restarts the
 *                       container in the same pod (its /data, the append-only file, stays)
 *   operator-kill       SIGKILL to the operator replica holding the leader Lease; the kubelet
 *                       restarts it, and it (same identity: its pod name) or the standby leads again
 *   apiserver-restart   kube-apiserver stopped (SIGTERM) and started again: every watch, the
 *                       kubelet's status writes and the operator's reconciles must ride it out
 *
 * Each fault returns when the system is back (Redis ready again, a leader renewing the Lease, the
 * API server healthy), with the times of both for the report's timeline.
 */

import { kubeletPodGroups } from '../cluster/components/state.ts';
import type { KubeClient } from '../kube/client.ts';
import { waitFor } from '../kube/poll.ts';
import type { FaultName } from './options.ts';

export interface FaultRecord {
  name: FaultName;
  /** seconds since the load started: the kill or the stop */
  at: number;
  /** seconds since the load started: the faulty part works again; null if it did not within the wait */
  recoveredAt: number | null;
  /** what was hit, e.g. "lastcall-experiment/redis-7c9f-x/redis (pgid 4242)" */
  target: string;
  /** how it came back, or why it did not */
  detail: string;
}

interface FaultContext {
  name: FaultName;
  /** the local cluster's state dir (local-cluster.ts) */
  stateDir: string;
  client: KubeClient;
  /** the experiment's namespace (Redis lives there) */
  namespace: string;
  /** seconds since the load started */
  elapsed: () => number;
  log: (line: string) => void;
}

const OPERATOR_NAMESPACE = 'lastcall-system';
const OPERATOR_LEASE = 'lastcall-operator';

interface PodLite {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  status?: {
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; restartCount?: number; ready?: boolean }[];
  };
}

interface LeaseLite {
  spec?: { holderIdentity?: string; renewTime?: string; acquireTime?: string; leaseTransitions?: number };
}

export async function injectFault(ctx: FaultContext): Promise<FaultRecord> {
  switch (ctx.name) {
    case 'redis-kill':
      return redisKill(ctx);
    case 'operator-kill':
      return operatorKill(ctx);
    case 'apiserver-restart':
      return apiserverRestart(ctx);
  }
}

/** SIGKILL to the process group of `namespace/pod/container` as the kubelet recorded it. */
async function killContainer(stateDir: string, owner: string): Promise<string> {
  const groups = (await kubeletPodGroups(stateDir)).filter((g) => g.name.includes(`(${owner})`));
  if (groups.length === 0) throw new Error(`no process group of ${owner} in ${stateDir}/kubelet/pids`);
  for (const g of groups) process.kill(-g.pgid, 'SIGKILL');
  return `${owner} (pgid ${groups.map((g) => g.pgid).join(', ')})`;
}

async function redisPods(ctx: FaultContext): Promise<PodLite[]> {
  const list = await ctx.client.request<{ items: PodLite[] }>(
    'GET',
    `/api/v1/namespaces/${ctx.namespace}/pods`,
    { query: { labelSelector: 'app.kubernetes.io/name=redis' } },
  );
  return list.items;
}

function restarts(pod: PodLite | undefined, container: string): number {
  return pod?.status?.containerStatuses?.find((c) => c.name === container)?.restartCount ?? 0;
}

function isReady(pod: PodLite | undefined): boolean {
  return pod?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

async function redisKill(ctx: FaultContext): Promise<FaultRecord> {
  const [pod] = await redisPods(ctx);
  if (pod === undefined) throw new Error(`redis-kill: no Redis pod in ${ctx.namespace}`);
  const before = restarts(pod, 'redis');
  const target = await killContainer(ctx.stateDir, `${ctx.namespace}/${pod.metadata.name}/redis`);
  const at = ctx.elapsed();
  ctx.log(`fault: redis-kill: SIGKILL to ${target} at ${at.toFixed(1)}s`);
  try {
    await waitFor(
      'Redis restarted and ready again',
      async () => {
        const now = (await redisPods(ctx)).find((p) => p.metadata.name === pod.metadata.name);
        return restarts(now, 'redis') > before && isReady(now) ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const recoveredAt = ctx.elapsed();
    return {
      name: ctx.name,
      at,
      recoveredAt,
      target,
      detail: `container restarted, ready after ${(recoveredAt - at).toFixed(1)}s`,
    };
  } catch (error) {
    return { name: ctx.name, at, recoveredAt: null, target, detail: (error as Error).message };
  }
}

async function readLease(ctx: FaultContext): Promise<LeaseLite> {
  return ctx.client.request<LeaseLite>(
    'GET',
    `/apis/coordination.k8s.io/v1/namespaces/${OPERATOR_NAMESPACE}/leases/${OPERATOR_LEASE}`,
  );
}

async function operatorKill(ctx: FaultContext): Promise<FaultRecord> {
  const lease = await readLease(ctx);
  const holder = lease.spec?.holderIdentity;
  if (holder === undefined || holder === '') {
    throw new Error(`operator-kill: the Lease ${OPERATOR_NAMESPACE}/${OPERATOR_LEASE} has no holder`);
  }
  // The operator's identity is its pod name (POD_NAME, config/manager); its container is "operator".
  const target = await killContainer(ctx.stateDir, `${OPERATOR_NAMESPACE}/${holder}/operator`);
  const at = ctx.elapsed();
  const killedAt = Date.now();
  ctx.log(`fault: operator-kill: SIGKILL to the leader ${target} at ${at.toFixed(1)}s`);
  try {
    const back = await waitFor(
      'a leader renewing the Lease again',
      async () => {
        const now = await readLease(ctx).catch(() => undefined);
        const renewed = Date.parse(now?.spec?.renewTime ?? '');
        // renewTime has microsecond precision; one renewal after the kill shows a live leader
        return Number.isFinite(renewed) && renewed > killedAt + 500 ? now : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250 },
    );
    const recoveredAt = ctx.elapsed();
    const who =
      back.spec?.holderIdentity === holder
        ? 'the restarted replica'
        : `the standby ${back.spec?.holderIdentity}`;
    return {
      name: ctx.name,
      at,
      recoveredAt,
      target,
      detail: `${who} leads again after ${(recoveredAt - at).toFixed(1)}s`,
    };
  } catch (error) {
    return { name: ctx.name, at, recoveredAt: null, target, detail: (error as Error).message };
  }
}

async function apiserverRestart(ctx: FaultContext): Promise<FaultRecord> {
  const at = ctx.elapsed();
  ctx.log(`fault: apiserver-restart: stopping kube-apiserver at ${at.toFixed(1)}s`);
  try {
    const { restartComponent } = await import('../cluster/launcher.ts');
    const { downSeconds } = await restartComponent('kube-apiserver', { stateDir: ctx.stateDir });
    const recoveredAt = ctx.elapsed();
    return {
      name: ctx.name,
      at,
      recoveredAt,
      target: 'kube-apiserver',
      detail: `stopped and healthy again after ${downSeconds.toFixed(1)}s`,
    };
  } catch (error) {
    return {
      name: ctx.name,
      at,
      recoveredAt: null,
      target: 'kube-apiserver',
      detail: (error as Error).message,
    };
  }
}
