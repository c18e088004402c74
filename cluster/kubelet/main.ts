import { mkdirSync } from 'node:fs';
import http from 'node:http';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { connectKube } from '../../kube/connect.ts';
import { EventRecorder } from '../../kube/events.ts';
import { Reflector } from '../../kube/reflector.ts';
import { coreTypes, type KubeObject } from '../../kube/resources.ts';
import { type ImageMap, loadImageMap } from '../images.ts';
import { HostsRegistry } from './hosts-registry.ts';
import { IpAllocator } from './ip-allocator.ts';
import { startLogServer } from './log-server.ts';
import { NodeAgent } from './node.ts';
import { killRecordedProcessGroups } from './orphans.ts';
import { PodWorker } from './pod-worker.ts';
import { twinIsListening } from './twin-listeners.ts';
import type { Pod } from './types.ts';

/**
 * The lastcall process kubelet: wiring only. See docs/kubelet-and-proxy.md.
 *   node cluster/kubelet/main.ts --kubeconfig F --node-name N --state-dir D --ca-file CA
 *     --api-server-port P --repo R --images R/cluster/images.json --health-port H
 */
const log = pino({ name: 'kubelet' });

function required(values: Record<string, string | undefined>, name: string): string {
  const v = values[name];
  if (!v) throw new Error(`--${name} is required`);
  return v;
}

function port(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new Error(`--${name} "${value}" is not a port (1-65535)`);
  return n;
}

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    'node-name': { type: 'string', default: 'lastcall-node' },
    'state-dir': { type: 'string' },
    'ca-file': { type: 'string' },
    'api-server-port': { type: 'string' },
    repo: { type: 'string' },
    images: { type: 'string' },
    'health-port': { type: 'string' },
  },
});

const nodeName = required(values, 'node-name');
const stateDir = resolve(required(values, 'state-dir'));
const repo = resolve(required(values, 'repo'));
const imagesFile = values.images ?? join(repo, 'cluster/images.json');
const healthPort = port(required(values, 'health-port'), 'health-port');
const apiServerPort = port(required(values, 'api-server-port'), 'api-server-port');
const caFile = required(values, 'ca-file');
const pidDir = join(stateDir, 'pids');
mkdirSync(join(stateDir, 'pods'), { recursive: true });

const orphans = killRecordedProcessGroups(pidDir);
if (orphans.killed.length)
  log.warn({ pgids: orphans.killed }, 'killed process groups left by a previous kubelet');

let imageMap = loadImageMap(imagesFile);
function images(): ImageMap {
  try {
    imageMap = loadImageMap(imagesFile);
  } catch (err) {
    log.warn({ err: String(err) }, 'images.json unreadable, keeping the last good map');
  }
  return imageMap;
}
// Certificate kubeconfigs (the launcher's) are read without client-node, which would cost ~90 MB.
const api = await connectKube({
  kubeconfig: required(values, 'kubeconfig'),
  userAgent: 'lastcall-kubelet',
}).catch((err: Error) => {
  log.fatal({ err: err.message }, 'could not load the API server credentials');
  process.exit(1);
});
// As a kubelet records them: source host = node name, and each one in the kubelet's log too.
const events = new EventRecorder({
  client: api,
  log,
  component: 'kubelet',
  instance: nodeName,
  host: nodeName,
  logLevel: 'info',
});
/** A local API server restarts in seconds: retry watches at most every 5 s, not client-go's 30. */
const watchBackoff = { baseMs: 200, maxMs: 5_000, jitter: 0.5 };
const nodeAgent = new NodeAgent({ api, log, nodeName });
const stop = new AbortController();
let ready = false;

const health = http.createServer((req, res) => {
  const ok = req.url === '/healthz' ? ready : req.url === '/livez';
  res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok' : 'not ready');
});
health.listen(healthPort, '127.0.0.1');

interface ServiceObject extends KubeObject {
  spec?: { clusterIP?: string };
}
const services = new Reflector<ServiceObject>({
  client: api,
  type: coreTypes.service,
  log,
  backoff: watchBackoff,
});
services.onChange(() => hosts.servicesChanged());
const hosts = new HostsRegistry(
  () =>
    services.store.list().map((s) => ({
      name: s.metadata.name ?? '',
      namespace: s.metadata.namespace ?? 'default',
      clusterIP: s.spec?.clusterIP,
    })),
  log,
);

let allocator: IpAllocator | undefined;
let allocatorReady: (a: IpAllocator) => void = () => {};
const allocatorPromise = new Promise<IpAllocator>((r) => {
  allocatorReady = r;
});

const workers = new Map<string, PodWorker>();

function podChanged(current: KubeObject | undefined, previous: KubeObject | undefined): void {
  const prev = previous as Pod | undefined;
  const pod = current as Pod | undefined;
  if (prev && prev.metadata.uid !== pod?.metadata.uid) workers.get(prev.metadata.uid)?.update(undefined);
  if (!pod || stop.signal.aborted) return;
  let worker = workers.get(pod.metadata.uid);
  if (!worker) {
    if (pod.status?.podIP && allocator) {
      try {
        allocator.reserve(pod.status.podIP, pod.metadata.uid);
      } catch (err) {
        log.warn({ err: String(err) }, 'recorded pod IP not reserved');
      }
    }
    const w = new PodWorker(pod, {
      api,
      log,
      events,
      images,
      nodeName,
      stateDir,
      pidDir,
      repo,
      nodeBinary: process.execPath,
      apiServerPort,
      caFile,
      allocateIP: async (owner) => (await allocatorPromise).allocate(owner),
      releaseIP: (owner) => allocator?.release(owner),
      registerHosts: (uid, file, p) => hosts.register(uid, file, p),
      unregisterHosts: (uid) => hosts.unregister(uid),
    });
    w.onDone = () => workers.delete(w.uid);
    workers.set(pod.metadata.uid, w);
    worker = w;
    void w.run().catch((err) => log.error({ err: String(err), pod: pod.metadata.name }, 'pod worker failed'));
  }
  worker.update(pod);
}

const pods = new Reflector<KubeObject>({
  client: api,
  type: coreTypes.pod,
  // The Node authorizer lets a node list/watch only its own pods (AuthorizeNodeWithSelectors).
  fieldSelector: `spec.nodeName=${nodeName}`,
  log,
  backoff: watchBackoff,
});
pods.onChange((change) => {
  if (change.type === 'added') podChanged(change.object, undefined);
  else if (change.type === 'updated') podChanged(change.object, change.old);
  else podChanged(undefined, change.object);
});

function workerOf(namespace: string, name: string): PodWorker | undefined {
  for (const w of workers.values()) if (w.name.namespace === namespace && w.name.name === name) return w;
  return undefined;
}

async function main(): Promise<void> {
  const logServer = await startLogServer({
    caFile,
    certDir: join(stateDir, 'serving'),
    log,
    source: {
      logFile: (ns, pod, container, previous) => workerOf(ns, pod)?.logFile(container, previous),
      running: (ns, pod, container) => workerOf(ns, pod)?.containerRunning(container) ?? false,
    },
  });
  nodeAgent.kubeletPort = (logServer.address() as { port: number }).port;
  stopLogServer = () => logServer.close();
  let delay = 500;
  for (;;) {
    try {
      await nodeAgent.register();
      break;
    } catch (err) {
      if (stop.signal.aborted) return;
      log.warn({ err: String(err) }, 'node registration failed, retrying');
      await sleep(delay);
      delay = Math.min(delay * 2, 5_000);
    }
  }
  nodeAgent.startHeartbeats();
  services.start();
  await services.waitForSync();
  ready = true;
  log.info({ node: nodeName, healthPort }, 'node registered, kubelet ready');
  const cidr = await nodeAgent.waitForPodCIDR(stop.signal);
  allocator = new IpAllocator(cidr, twinIsListening);
  log.info({ podCIDR: cidr }, 'pod CIDR assigned');
  pods.start();
  await pods.waitForSync();
  allocatorReady(allocator);
}

let stopLogServer = () => {};

async function shutdown(signal: string): Promise<void> {
  log.info({ signal, pods: workers.size }, 'kubelet shutting down: killing pod processes');
  stop.abort();
  void pods.stop();
  void services.stop();
  nodeAgent.stop();
  for (const w of workers.values()) w.killNow();
  killRecordedProcessGroups(pidDir);
  health.close();
  stopLogServer();
  setTimeout(() => process.exit(0), 200).unref();
}

process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

main().catch((err) => {
  log.fatal({ err: String(err) }, 'kubelet failed');
  killRecordedProcessGroups(pidDir);
  process.exit(1);
});
