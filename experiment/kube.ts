/**
 * What the experiment needs from the cluster: install lastcall and Redis,
 * create, patch, read and delete its CounterService, list its pods. Requests go
 * through the repository's client (kube/; merge patch: strategic merge is refused
 * for custom resources); `kubectl apply -k` installs the kustomize tree, with the
 * kubectl built for the local cluster (same version as its API server): running
 * kustomize and kubectl's apply is the point there.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../cluster/tools.ts';
import { contentTypes, type KubeClient } from '../kube/client.ts';
import { connectKube } from '../kube/connect.ts';
import { isNotFound } from '../kube/errors.ts';
import { ensureNamespace as ensureKubeNamespace } from '../kube/namespaces.ts';
import { waitFor } from '../kube/poll.ts';
import { coreTypes, type KubeObject, type ObjectList, resourcePath } from '../kube/resources.ts';
import { API_VERSION, COUNTER_SERVICE_PLURAL, GROUP } from '../operator/api/constants.ts';
import { counterServiceType } from '../operator/api/resources.ts';
import type { DrainModeOption } from './options.ts';

const run = promisify(execFile);

export const OPERATOR_NAMESPACE = 'lastcall-system';

/** The CounterService as far as the experiment reads it (operator/api/counterservice.ts is the schema). */
export interface CounterServiceObject {
  metadata: {
    name: string;
    namespace: string;
    generation?: number;
    uid?: string;
    deletionTimestamp?: string;
  };
  spec: { replicas: number; image: string; drain?: { mode?: string }; work?: { durationSeconds?: number } };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    availableReplicas?: number;
    phase?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    budget?: { gracePeriodSeconds?: number; formula?: string };
    drains?: { observed?: number; recent?: Record<string, unknown>[] };
    lastRollout?: { fromImage?: string; toImage?: string; startedAt?: string; completedAt?: string };
  };
}

export interface PodView {
  name: string;
  image: string;
  ready: boolean;
  terminating: boolean;
}

export interface Cluster {
  kubeconfig: string;
  binDir: string;
  client: KubeClient;
}

export async function connect(kubeconfig: string, binDir: string): Promise<Cluster> {
  return { kubeconfig, binDir, client: await connectKube({ kubeconfig, userAgent: 'lastcall-experiment' }) };
}

/** Runs kubectl (the tools build, else the one on PATH) against the cluster; `input` goes to its stdin. */
export async function kubectl(
  cluster: Pick<Cluster, 'kubeconfig' | 'binDir'>,
  args: readonly string[],
  input?: string,
): Promise<string> {
  const bin = existsSync(join(cluster.binDir, 'kubectl')) ? join(cluster.binDir, 'kubectl') : 'kubectl';
  try {
    const pending = run(bin, ['--kubeconfig', cluster.kubeconfig, ...args], {
      cwd: repoRoot,
      maxBuffer: 16 << 20,
    });
    // kubectl may exit before reading stdin (most commands never do): EPIPE on our end is no
    // error of its own; the exit status says how the command went.
    pending.child.stdin?.on('error', () => {});
    pending.child.stdin?.end(input ?? '');
    const { stdout } = await pending;
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`);
  }
}

/**
 * Installs (or updates) lastcall from config/default and waits for the CRD and
 * the operator. `apply` is idempotent: what exists and matches stays as it is.
 */
export async function installLastcall(cluster: Cluster, log: (line: string) => void): Promise<void> {
  const out = await kubectl(cluster, ['apply', '-k', 'config/default']);
  const changed = out.split('\n').filter((l) => l.trim() !== '' && !l.endsWith(' unchanged'));
  log(
    changed.length === 0
      ? 'lastcall: installed (config/default unchanged)'
      : `lastcall: applied config/default: ${changed.join('; ')}`,
  );
  await kubectl(cluster, [
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    `crd/${COUNTER_SERVICE_PLURAL}.${GROUP}`,
  ]);
  // rollout status, not the Available condition: right after an apply the Deployment may still
  // report the previous ReplicaSet as available while the new operator pods have not started.
  const deployments = await cluster.client.get<ObjectList>(
    resourcePath(coreTypes.deployment, { namespace: OPERATOR_NAMESPACE }),
  );
  for (const d of deployments.items) {
    await kubectl(cluster, [
      'rollout',
      'status',
      '-n',
      OPERATOR_NAMESPACE,
      `deployment/${d.metadata.name}`,
      '--timeout=180s',
    ]);
  }
}

export async function assertInstalled(cluster: Cluster): Promise<void> {
  try {
    await kubectl(cluster, ['get', `crd/${COUNTER_SERVICE_PLURAL}.${GROUP}`, '-o', 'name']);
  } catch {
    throw new Error(
      `--skip-install: the CRD ${COUNTER_SERVICE_PLURAL}.${GROUP} is not installed; drop --skip-install or run kubectl apply -k config/default`,
    );
  }
}

export async function ensureNamespace(cluster: Cluster, namespace: string): Promise<void> {
  await ensureKubeNamespace(cluster.client, namespace, {
    'app.kubernetes.io/part-of': 'lastcall-experiment',
  });
}

/** The Redis of config/samples, in the experiment's namespace; the CounterService reaches it as redis:6379. */
export async function installRedis(
  cluster: Cluster,
  namespace: string,
  log: (line: string) => void,
): Promise<void> {
  const sample = join(repoRoot, 'config', 'samples', 'redis.yaml');
  const out = await kubectl(cluster, ['apply', '-n', namespace, '-f', sample]);
  if (out.split('\n').some((l) => l.trim() !== '' && !l.endsWith(' unchanged')))
    log(`redis: applied ${sample}`);
  await kubectl(cluster, ['rollout', 'status', '-n', namespace, 'deployment/redis', '--timeout=120s']);
}

interface RedisPodLite {
  metadata: { name: string };
  status?: { containerStatuses?: { name: string; restartCount?: number }[] };
}

/**
 * `--fault redis-kill` measures one crash of a Redis that has not crashed before: the kubelet
 * restarts a first crash at once (Redis was back in ~2 s). An earlier run's kill of the same
 * container would make this one a crash loop instead: the kubelet waits out its crash back-off
 * (10 s, then 20 s, ... while the container keeps crashing within 10 minutes), longer than any
 * default drain can wait (docs/experiment.md says what that costs and which margin covers it). So a
 * Redis whose container has restarted is replaced by a fresh pod first (Redis keeps no state the
 * experiment needs between runs: each run counts under a key of its own).
 */
export async function replaceCrashedRedis(
  cluster: Cluster,
  namespace: string,
  log: (line: string) => void,
): Promise<void> {
  const redisPods = async () =>
    (
      await cluster.client.get<{ items: RedisPodLite[] }>(resourcePath(coreTypes.pod, { namespace }), {
        query: { labelSelector: 'app.kubernetes.io/name=redis' },
      })
    ).items;
  const crashed = (await redisPods()).filter((pod) =>
    (pod.status?.containerStatuses ?? []).some((c) => (c.restartCount ?? 0) > 0),
  );
  if (crashed.length === 0) return;
  log(
    `redis: ${crashed.map((p) => p.metadata.name).join(', ')} crashed before (an earlier run's kill): replacing it, so this run's kill is a first crash`,
  );
  await kubectl(cluster, ['rollout', 'restart', '-n', namespace, 'deployment/redis']);
  await kubectl(cluster, ['rollout', 'status', '-n', namespace, 'deployment/redis', '--timeout=120s']);
  await waitFor(
    'the crashed Redis pod gone',
    async () => {
      const now = await redisPods();
      return now.every((p) => !crashed.some((c) => c.metadata.name === p.metadata.name)) ? true : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );
}

export async function readCounterService(
  cluster: Cluster,
  namespace: string,
  name: string,
): Promise<CounterServiceObject | undefined> {
  try {
    return await cluster.client.get<CounterServiceObject>(
      resourcePath(counterServiceType, { namespace, name }),
    );
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** seconds of work between the answer and the INCR (the CounterService's spec.work.durationSeconds) */
export const WORK_SECONDS = 5;

export interface CounterServicePlan {
  namespace: string;
  name: string;
  replicas: number;
  image: string;
  mode: DrainModeOption;
  counterKey: string;
  nodePort: number;
  /** spec.drain.propagationSeconds (the preStop sleep); undefined: the policy default */
  propagationSeconds?: number | undefined;
  /** spec.drain.marginSeconds; undefined: the policy default */
  marginSeconds?: number | undefined;
}

export async function createCounterService(cluster: Cluster, plan: CounterServicePlan): Promise<void> {
  await cluster.client.request('POST', resourcePath(counterServiceType, { namespace: plan.namespace }), {
    body: {
      apiVersion: API_VERSION,
      kind: 'CounterService',
      metadata: {
        name: plan.name,
        namespace: plan.namespace,
        labels: { 'app.kubernetes.io/part-of': 'lastcall-experiment' },
      },
      spec: {
        replicas: plan.replicas,
        image: plan.image,
        redis: { address: 'redis:6379', key: plan.counterKey },
        // the seed's work: 5 s between the answer and the INCR
        work: { durationSeconds: WORK_SECONDS },
        drain: {
          mode: plan.mode === 'hard' ? 'Hard' : 'Graceful',
          ...(plan.propagationSeconds === undefined ? {} : { propagationSeconds: plan.propagationSeconds }),
          ...(plan.marginSeconds === undefined ? {} : { marginSeconds: plan.marginSeconds }),
        },
        // the seed's Deployment defaults for one replica: surge one, never go below the desired count
        rollout: { maxSurge: 1, maxUnavailable: 0 },
        service: { type: 'NodePort', port: 80, nodePort: plan.nodePort },
      },
    },
  });
}

export async function patchImage(
  cluster: Cluster,
  namespace: string,
  name: string,
  image: string,
): Promise<void> {
  await cluster.client.request('PATCH', resourcePath(counterServiceType, { namespace, name }), {
    body: { spec: { image } },
    contentType: contentTypes.mergePatch,
  });
}

/** Deletes the CounterService and waits for its pods and Service to be gone (garbage collection of owned objects). */
export async function deleteCounterService(
  cluster: Cluster,
  namespace: string,
  name: string,
  timeoutMs = 120_000,
): Promise<void> {
  try {
    await cluster.client.request('DELETE', resourcePath(counterServiceType, { namespace, name }), {
      // Background: the garbage collector removes the Deployment, its pods and the Service
      // after the CounterService is gone; the wait below covers them.
      query: { propagationPolicy: 'Background' },
    });
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  await waitFor(
    `CounterService ${namespace}/${name}, its pods and its Service to be gone`,
    async () => {
      const [cs, pods, service] = await Promise.all([
        readCounterService(cluster, namespace, name),
        listPods(cluster, namespace, name),
        cluster.client.get(resourcePath(coreTypes.service, { namespace, name })).catch((error: unknown) => {
          if (isNotFound(error)) return undefined;
          throw error;
        }),
      ]);
      return cs === undefined && pods.length === 0 && service === undefined ? true : undefined;
    },
    { timeoutMs, intervalMs: 500 },
  );
}

export async function listPods(
  cluster: Cluster,
  namespace: string,
  counterService: string,
): Promise<PodView[]> {
  const list = await cluster.client.get<ObjectList<PodObject>>(resourcePath(coreTypes.pod, { namespace }), {
    query: { labelSelector: `lastcall.dev/counterservice=${counterService}` },
  });
  return list.items.map(podView);
}

/** A pod as far as the experiment reads it. */
interface PodObject extends KubeObject {
  spec?: { containers?: Array<{ image?: string }> };
  status?: { conditions?: Array<{ type: string; status: string }> };
}

function podView(pod: PodObject): PodView {
  const terminating = pod.metadata.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null;
  const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  return {
    name: pod.metadata.name ?? '',
    image: pod.spec?.containers?.[0]?.image ?? '',
    ready: ready && !terminating,
    terminating,
  };
}

/** GET /count through the NodePort: the Redis counter as the workload reads it. */
/**
 * Another process answers on the NodePort: NodePorts listen on 127.0.0.1 for every local cluster on
 * the machine, so a second cluster's proxy cannot bind a port the first one holds, and this run's
 * requests would silently go to the other cluster's pods. The key each workload reports with its
 * count tells the two apart.
 */
export class ForeignCounterError extends Error {
  constructor(nodePort: number, expectedKey: string, foundKey: unknown) {
    super(
      `127.0.0.1:${nodePort} answers for counter key ${JSON.stringify(foundKey)}, not this run's ` +
        `${JSON.stringify(expectedKey)}: something else (another cluster on this machine?) holds NodePort ` +
        `${nodePort}; stop it or choose another --node-port`,
    );
    this.name = 'ForeignCounterError';
  }
}

/** The counter behind the NodePort, which must be this run's key (`ForeignCounterError` if not). */
export async function readCounter(nodePort: number, counterKey: string, timeoutMs = 2000): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${nodePort}/count`, {
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await response.json()) as { key?: unknown; value?: unknown; error?: string };
  if (!response.ok || typeof body.value !== 'number') {
    throw new Error(`GET /count answered ${response.status}: ${JSON.stringify(body)}`);
  }
  if (body.key !== counterKey) throw new ForeignCounterError(nodePort, counterKey, body.key);
  return body.value;
}
