import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KubeClient, WatchEvent } from '../../../kube/client.ts';
import { connectKube } from '../../../kube/connect.ts';
import { isNotFound } from '../../../kube/errors.ts';
import { ensureNamespace } from '../../../kube/namespaces.ts';
import { waitFor } from '../../../kube/poll.ts';
import { coreTypes, resourcePath } from '../../../kube/resources.ts';

/** Helpers for the kubelet and proxy integration tests (real API server, real processes). */
export function testApi(kubeconfig: string): Promise<KubeClient> {
  return connectKube({ kubeconfig, userAgent: 'lastcall-cluster-tests' });
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

export async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function createNamespace(api: KubeClient, name: string): Promise<void> {
  await ensureNamespace(api, name);
  // Pods need the default ServiceAccount, which the serviceaccount controller creates.
  await waitFor(
    `ServiceAccount ${name}/default`,
    () => orUndefined(api.get(resourcePath(coreTypes.serviceAccount, { namespace: name, name: 'default' }))),
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

export { deleteNamespace } from '../../../kube/namespaces.ts';

export interface PodJson {
  metadata: { name: string; uid: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec: { nodeName?: string };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      name: string;
      ready: boolean;
      restartCount: number;
      state: Record<string, Record<string, unknown>>;
      lastState?: Record<string, Record<string, unknown>>;
    }[];
  };
}

export function isReady(p: PodJson | undefined): boolean {
  return p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Waits until pod `namespace/name` has condition Ready=True; fails after timeoutMs naming the pod. */
export async function podReady(
  api: KubeClient,
  namespace: string,
  name: string,
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    `pod ${namespace}/${name} Ready`,
    async () =>
      isReady(await api.get<PodJson>(`/api/v1/namespaces/${namespace}/pods/${name}`)) ? true : undefined,
    { timeoutMs, intervalMs: 200 },
  );
}

/** Records every watch event of the namespace's pods, with the time it arrived. */
export class PodRecorder {
  readonly events: { at: number; type: string; pod: PodJson }[] = [];
  private readonly abort = new AbortController();
  private readonly done: Promise<void>;

  constructor(api: KubeClient, namespace: string) {
    this.done = api
      .watch<PodJson>(
        resourcePath(coreTypes.pod, { namespace }),
        { resourceVersion: '0', timeoutSeconds: 600 },
        (e: WatchEvent<PodJson>) => this.events.push({ at: Date.now(), type: e.type, pod: e.object }),
        // No bookmarks asked for: a quiet namespace may send nothing for minutes.
        { signal: this.abort.signal, idleTimeoutMs: 660_000 },
      )
      .catch(() => {});
  }

  of(name: string): { at: number; type: string; pod: PodJson }[] {
    return this.events.filter((e) => e.pod.metadata.name === name);
  }

  /**
   * Waits until this recorder saw the DELETED event of pod `name` and resolves with its arrival
   * time. A GET answering 404 is not enough: the watch may deliver the event after it.
   */
  gone(name: string, timeoutMs: number): Promise<number> {
    return waitFor(
      `the DELETED event of pod ${name}`,
      async () => this.of(name).find((e) => e.type === 'DELETED')?.at,
      { timeoutMs, intervalMs: 200 },
    );
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

/** A tiny HTTP server for busybox pods: GET / answers the pod name; GET /ready is 200 while READY_FILE exists. */
export const namedHttpServer = `
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path != '/ready' or not os.environ.get('READY_FILE') or os.path.exists(os.environ['READY_FILE'])
        body = os.environ.get('HOSTNAME', '?').encode()
        self.send_response(200 if ok else 503)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((os.environ['HOST'], 8080), H).serve_forever()
`;

/**
 * A busybox container running namedHttpServer on its port "http" (8080), ready while
 * `readinessPath` answers 200: "/" always does, "/ready" only while READY_FILE exists.
 */
export function namedHttpContainer(image: string, readinessPath: '/' | '/ready') {
  return {
    name: 'web',
    image,
    command: ['python3', '-c', namedHttpServer],
    ports: [{ name: 'http', containerPort: 8080 }],
    readinessProbe: { httpGet: { path: readinessPath, port: 'http' }, periodSeconds: 1 },
  };
}

/** A Service as the API server returns it on creation: with its ClusterIP and any node ports filled in. */
export interface CreatedService {
  spec: { clusterIP: string; ports: { nodePort?: number }[] };
}

/** Creates Service `name` in `namespace` with `spec`. */
export function createService(
  api: KubeClient,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Promise<CreatedService> {
  return api.request<CreatedService>('POST', resourcePath(coreTypes.service, { namespace }), {
    body: { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec },
  });
}

/** A NodePort Service `name` on port 80 over the pods labelled app=`name`, to their port "http". */
export function createNodePortService(
  api: KubeClient,
  namespace: string,
  name: string,
): Promise<CreatedService> {
  return createService(api, namespace, name, {
    type: 'NodePort',
    selector: { app: name },
    ports: [{ name: 'http', port: 80, targetPort: 'http' }],
  });
}

/** GET over loopback with a timeout; resolves with status and body, or the error code. */
export async function httpGetText(
  url: string,
  timeoutMs = 3_000,
): Promise<{ status: number; body: string } | { error: string }> {
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { connection: 'close' },
    });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return { error: cause?.code ?? String(err) };
  }
}

/** Whether the cluster runs the lastcall process kubelet (the local cluster), not kind or another one. */
export async function runsProcessKubelet(api: KubeClient): Promise<boolean> {
  const node = await orUndefined(
    api.get<{ metadata: { labels?: Record<string, string> } }>('/api/v1/nodes/lastcall-node'),
  );
  return node?.metadata.labels?.['lastcall.dev/process-kubelet'] === 'true';
}

/**
 * A busybox container whose shell traps SIGTERM with `handler` and loops, plus the pod volume it
 * needs. It turns Ready only once the trap is installed (it touches a file in an emptyDir after
 * `trap`, an exec readiness probe looks for it): a SIGTERM that arrives before the shell ran `trap`
 * ends it at once with 143, and a test about what happens to a process that outlives SIGTERM must
 * not delete the pod in that moment (a CI run did, 300 ms after the pod started).
 */
export function sigtermTrapping(handler: string, image = 'busybox') {
  const armed = '/armed/trap';
  return {
    container: {
      name: 'main',
      image,
      command: ['sh', '-c', `trap '${handler}' TERM; touch ${armed}; while true; do sleep 0.1; done`],
      volumeMounts: [{ name: 'armed', mountPath: '/armed' }],
      readinessProbe: { exec: { command: ['test', '-e', armed] }, periodSeconds: 1 },
    },
    volume: { name: 'armed', emptyDir: {} },
  };
}

/** One line of the process kubelet's log (pino JSON; `time` in ms since the epoch). */
export interface KubeletLogLine {
  time: number;
  msg: string;
  pod?: string;
  [field: string]: unknown;
}

/**
 * The process kubelet's own log lines about pod `namespace/name`, oldest first. Its timestamps
 * come from the clock that times the termination (preStop, stop window, SIGKILL), so intervals
 * between them are what the kubelet decided, free of the watch and API latency a test sees.
 * The local cluster keeps the log beside its admin kubeconfig (<state dir>/logs/kubelet.log).
 */
export async function kubeletLogOf(
  kubeconfig: string,
  namespace: string,
  name: string,
): Promise<KubeletLogLine[]> {
  const file = join(dirname(kubeconfig), 'logs', 'kubelet.log');
  if (!existsSync(file))
    throw new Error(`no process kubelet log at ${file} (is ${kubeconfig} a local cluster's?)`);
  const pod = `${namespace}/${name}`;
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter((line) => line.includes(`"pod":"${pod}"`))
    .map((line) => JSON.parse(line) as KubeletLogLine)
    .filter((line) => line.pod === pod);
}

/** The time of the kubelet's first line `msg` about the pod; fails naming what is missing. */
export function kubeletLineAt(lines: readonly KubeletLogLine[], msg: string): KubeletLogLine {
  const line = lines.find((l) => l.msg === msg);
  if (line === undefined) {
    throw new Error(
      `the kubelet logged no "${msg}" for this pod; it logged: ${lines.map((l) => l.msg).join(', ')}`,
    );
  }
  return line;
}
