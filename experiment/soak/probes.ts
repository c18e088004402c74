/**
 * What the soak run samples besides the load, every few seconds:
 *
 *   Redis       INFO memory (used_memory), DBSIZE and a PING's round trip, through the Redis
 *               Service's ClusterIP
 *   workload    each pod's GET /metrics on its pod IP (process_resident_memory_bytes)
 *   operator    each operator pod's secure /metrics on its pod IP, with the token of a
 *               ServiceAccount bound to lastcall-metrics-reader: RSS and lastcall_reconcile_total
 *
 * Each address recorded in the API is dialled through `addressOf` (probeAddressOf): on the local
 * cluster its loopback twin (10.96.x.y:6379 -> 127.96.x.y:6379, docs/architecture.md: the
 * machine's own namespace dials loopback only); inside kind's network namespace, where
 * cluster/kind/run.sh routes the pod and service ranges to the node, the address itself.
 * Any other cluster's are not reachable from here, and the probes say so.
 */
import { request as httpsRequest } from 'node:https';
import { isIPv4 } from 'node:net';
import { Redis } from 'ioredis';
import { loopbackTwin } from '../../cluster/addresses.ts';
import type { KubeClient } from '../../kube/client.ts';
import { isNotFound } from '../../kube/errors.ts';
import { coreTypes, type KubeObject, type ObjectList, resourcePath } from '../../kube/resources.ts';
import { CONTAINER_PORT } from '../../operator/desired/deployment.ts';
import { KIND_ROUTED_ENV } from '../kind.ts';
import { OPERATOR_NAMESPACE } from '../kube.ts';
import { metricSum, parseRedisInfo } from './stats.ts';

const OPERATOR_SELECTOR = 'app.kubernetes.io/name=lastcall,app.kubernetes.io/component=operator';
const OPERATOR_METRICS_PORT = 9090;
const SCRAPER = 'lastcall-soak-scraper';

export interface RedisReading {
  usedMemoryBytes: number;
  keys: number;
  pingMs: number;
}

export interface PodReading {
  pod: string;
  rssBytes: number;
  heapUsedBytes: number | null;
}

export interface WorkloadReading extends PodReading {
  /**
   * increments this pod had Redis confirm since it started (its share of the load); absent in
   * runs recorded before the probes read it
   */
  completed?: number | null;
}

export interface OperatorReading extends PodReading {
  reconciles: number;
}

export interface ProbeReading {
  /** seconds since the load started */
  t: number;
  redis: RedisReading | null;
  workload: WorkloadReading[];
  operator: OperatorReading[];
  /** what could not be read this time, e.g. "redis: ECONNREFUSED" */
  errors: string[];
}

type Pod = KubeObject & { status?: { podIP?: string; phase?: string } };

export interface Probes {
  read(t: number): Promise<ProbeReading>;
  close(): Promise<void>;
}

/**
 * How the probes dial an address recorded in the API (a pod IP, a ClusterIP): the address itself
 * inside kind's network namespace (KIND_ROUTED_ENV: cluster/kind/run.sh routed the pod and service
 * ranges there to the node), else its loopback twin (the local cluster; the machine's own
 * namespace dials loopback only).
 */
export function probeAddressOf(env: NodeJS.ProcessEnv = process.env): (ip: string) => string {
  return env[KIND_ROUTED_ENV] === '1' ? routedAddress : loopbackTwin;
}

function routedAddress(ip: string): string {
  if (!isIPv4(ip)) throw new Error(`address "${ip}" is not an IPv4 address`);
  return ip;
}

export async function startProbes(opts: {
  client: KubeClient;
  namespace: string;
  /** the CounterService's pods */
  selector: string;
  /** an API address -> what to dial; default probeAddressOf() */
  addressOf?: (ip: string) => string;
}): Promise<Probes> {
  const { client, namespace } = opts;
  const addressOf = opts.addressOf ?? probeAddressOf();
  const token = await scraperToken(client, namespace);
  let redis: Redis | undefined;
  let redisHost: string | undefined;

  async function readRedis(): Promise<RedisReading> {
    if (redis === undefined) {
      const service = await client.get<KubeObject & { spec?: { clusterIP?: string } }>(
        resourcePath(coreTypes.service, { namespace, name: 'redis' }),
      );
      redisHost = addressOf(service.spec?.clusterIP ?? '');
      redis = new Redis({
        host: redisHost,
        port: 6379,
        lazyConnect: true,
        connectTimeout: 2000,
        commandTimeout: 2000,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        retryStrategy: () => 500,
      });
      redis.on('error', () => {}); // a Redis restart (fault) shows as a failed probe
      await redis.connect();
    }
    const began = performance.now();
    await redis.ping();
    const pingMs = performance.now() - began;
    const [info, keys] = await Promise.all([redis.info('memory'), redis.dbsize()]);
    const used = parseRedisInfo(info).used_memory;
    return { usedMemoryBytes: typeof used === 'number' ? used : Number.NaN, keys, pingMs };
  }

  async function pods(ns: string, selector: string): Promise<Pod[]> {
    const list = await client.get<ObjectList<Pod>>(resourcePath(coreTypes.pod, { namespace: ns }), {
      query: { labelSelector: selector },
    });
    return list.items.filter((p) => p.status?.phase === 'Running' && p.status.podIP);
  }

  async function readWorkload(errors: string[]): Promise<WorkloadReading[]> {
    const out: WorkloadReading[] = [];
    await Promise.all(
      (await pods(namespace, opts.selector)).map(async (p) => {
        try {
          const text = await fetchText(
            `http://${addressOf(p.status?.podIP ?? '')}:${CONTAINER_PORT}/metrics`,
          );
          const rss = metricSum(text, 'lastcall_workload_process_resident_memory_bytes');
          if (rss === null) throw new Error('no process_resident_memory_bytes');
          out.push({
            pod: p.metadata.name ?? '',
            rssBytes: rss,
            heapUsedBytes: metricSum(text, 'lastcall_workload_nodejs_heap_size_used_bytes'),
            completed: metricSum(text, 'lastcall_workload_increments_completed_total'),
          });
        } catch (error) {
          // a pod that just stopped serving (drain) is no error of the probe's
          errors.push(`workload ${p.metadata.name}: ${probeErrorMessage(error)}`);
        }
      }),
    );
    return out.sort((a, b) => a.pod.localeCompare(b.pod));
  }

  async function readOperator(errors: string[]): Promise<OperatorReading[]> {
    const out: OperatorReading[] = [];
    const bearer = await token.current();
    await Promise.all(
      (await pods(OPERATOR_NAMESPACE, OPERATOR_SELECTOR)).map(async (p) => {
        try {
          const text = await scrapeSecure(addressOf(p.status?.podIP ?? ''), OPERATOR_METRICS_PORT, bearer);
          const rss = metricSum(text, 'lastcall_operator_process_resident_memory_bytes');
          if (rss === null) throw new Error('no process_resident_memory_bytes');
          out.push({
            pod: p.metadata.name ?? '',
            rssBytes: rss,
            heapUsedBytes: metricSum(text, 'lastcall_operator_nodejs_heap_size_used_bytes'),
            reconciles: metricSum(text, 'lastcall_reconcile_total') ?? 0,
          });
        } catch (error) {
          errors.push(`operator ${p.metadata.name}: ${probeErrorMessage(error)}`);
        }
      }),
    );
    return out.sort((a, b) => a.pod.localeCompare(b.pod));
  }

  return {
    async read(t) {
      const errors: string[] = [];
      const [r, w, o] = await Promise.allSettled([readRedis(), readWorkload(errors), readOperator(errors)]);
      if (r.status === 'rejected') errors.push(`redis ${redisHost ?? ''}: ${probeErrorMessage(r.reason)}`);
      if (w.status === 'rejected') errors.push(`workload pods: ${probeErrorMessage(w.reason)}`);
      if (o.status === 'rejected') errors.push(`operator pods: ${probeErrorMessage(o.reason)}`);
      return {
        t,
        redis: r.status === 'fulfilled' ? r.value : null,
        workload: w.status === 'fulfilled' ? w.value : [],
        operator: o.status === 'fulfilled' ? o.value : [],
        errors,
      };
    },
    async close() {
      redis?.disconnect();
      await token.remove();
    },
  };
}

/** The most telling short form: a system error's code (also under fetch's "fetch failed"), else the message. */
export function probeErrorMessage(error: unknown): string {
  const e = (error ?? {}) as { code?: unknown; message?: unknown; cause?: { code?: unknown } };
  const code = e.code ?? e.cause?.code;
  return String(code ?? e.message ?? error).slice(0, 120);
}

async function fetchText(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.text();
}

/** GET https://host:port/metrics with a bearer token; the operator's certificate is self-signed. */
function scrapeSecure(host: string, port: number, token: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host,
        port,
        path: '/metrics',
        rejectUnauthorized: false, // self-signed, as the ServiceMonitor's insecureSkipVerify
        headers: { authorization: `Bearer ${token}` },
        timeout: 3000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(Buffer.concat(chunks).toString('utf8'))
            : reject(new Error(`HTTP ${res.statusCode}`)),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject).end();
  });
}

const accounts = coreTypes.serviceAccount;
const bindings = coreTypes.clusterRoleBinding;

/** A ServiceAccount bound to lastcall-metrics-reader and a token for it, renewed before it expires. */
async function scraperToken(
  client: KubeClient,
  namespace: string,
): Promise<{ current(): Promise<string>; remove(): Promise<void> }> {
  const binding = `${SCRAPER}-${namespace}`;
  const ignoreConflict = (error: unknown) => {
    if ((error as { statusCode?: number; code?: number }).statusCode === 409) return undefined;
    if ((error as { code?: number }).code === 409) return undefined;
    throw error;
  };
  await client
    .request('POST', resourcePath(accounts, { namespace }), {
      body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: SCRAPER } },
    })
    .catch(ignoreConflict);
  await client
    .request('POST', resourcePath(bindings), {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: binding, labels: { 'app.kubernetes.io/part-of': 'lastcall-soak' } },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: 'lastcall-metrics-reader',
        },
        subjects: [{ kind: 'ServiceAccount', name: SCRAPER, namespace }],
      },
    })
    .catch(ignoreConflict);
  let token = '';
  let renewAt = 0;
  return {
    async current() {
      if (Date.now() >= renewAt) {
        const review = await client.request<{ status: { token: string } }>(
          'POST',
          `${resourcePath(accounts, { namespace, name: SCRAPER })}/token`,
          {
            body: {
              apiVersion: 'authentication.k8s.io/v1',
              kind: 'TokenRequest',
              spec: { expirationSeconds: 3600 },
            },
          },
        );
        token = review.status.token;
        renewAt = Date.now() + 30 * 60_000;
      }
      return token;
    },
    async remove() {
      await client.request('DELETE', resourcePath(bindings, { name: binding })).catch((error: unknown) => {
        if (!isNotFound(error)) throw error;
      });
    },
  };
}
