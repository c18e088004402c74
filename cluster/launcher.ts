import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from '../kube/client.ts';
import { coreTypes, resourcePath } from '../kube/resources.ts';
import { apiserver, apiserverUrl } from './components/apiserver.ts';
import type { ClusterLayout, Component } from './components/component.ts';
import { controllerManager } from './components/controller-manager.ts';
import {
  type Daemon,
  type DaemonRecord,
  exitDescription,
  isAlive,
  logTail,
  residentBytes,
  startDaemon,
  stopGroups,
} from './components/daemon.ts';
import { etcd } from './components/etcd.ts';
import { httpCall, isHealthy, type TlsFiles } from './components/http.ts';
import { kubelet, kubeletMain } from './components/kubelet.ts';
import { proxy, proxyMain } from './components/proxy.ts';
import { scheduler } from './components/scheduler.ts';
import {
  type ClusterState,
  type ComponentSet,
  kubeletPodGroups,
  PidFile,
  readJson,
  statePaths,
  withLock,
  writeJson,
} from './components/state.ts';
import { allocateNetwork, type ClusterNetwork, defaultNetwork, releaseNetwork } from './network-plan.ts';
import { type ClientIdentity, createPki, nodeName, pkiLayout, writeKubeconfig } from './pki.ts';
import { freePortsNamed } from './ports.ts';
import { ensureTools, repoRoot } from './tools.ts';

export type { ComponentSet } from './components/state.ts';

/** How many times `up` starts again on new ports when a chosen port was taken meanwhile. */
const PORT_RACE_ATTEMPTS = 4;

export interface ClusterHandle {
  stateDir: string;
  kubeconfig: string;
  server: string;
  binDir: string;
}

export interface UpOptions {
  stateDir?: string;
  onProgress?: (line: string) => void;
  /** `all` (default): the control plane, the kubelet and the service proxy. `control-plane`: no node. */
  components?: ComponentSet;
  /**
   * The service proxy's delay between an EndpointSlice change and its routing change, seconds
   * (cluster/proxy/endpoint-delay.ts). Recorded in cluster.json; on a running cluster it is
   * changed at once (setEndpointDelay); undefined keeps what the cluster has (a new one: 0).
   */
  endpointDelaySeconds?: number;
}

export interface ComponentStatus {
  name: string;
  pid: number;
  alive: boolean;
  endpoint: string;
  log: string;
  /** Resident memory (VmRSS) of the component's main process. */
  rssBytes?: number;
  /** The end of the log of a component that is no longer running. */
  logTail?: string;
}

export interface ClusterStatus {
  stateDir: string;
  /** Every recorded component runs and the API server is ready. */
  running: boolean;
  server?: string;
  kubeconfig?: string;
  binDir?: string;
  /** The cluster's pod network and service range (cluster.json; the defaults for a cluster.json from before they were recorded). */
  network?: ClusterNetwork;
  components: ComponentStatus[];
  /** Live pod process groups the kubelet recorded. */
  podProcessGroups: number;
  /** The service proxy's endpoint delay (cluster.json), seconds. */
  endpointDelaySeconds?: number;
}

export const defaultStateDir = join(repoRoot, '.lastcall', 'cluster');

/** Thrown when a component exits or never becomes healthy; the message carries its log tail. */
export class ComponentFailed extends Error {
  readonly component: string;
  constructor(component: string, what: string, log: string, tail: string) {
    super(`${component} ${what}; last lines of ${log}:\n${indent(tail)}`);
    this.name = 'ComponentFailed';
    this.component = component;
  }
}

const controlPlane = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];
const nodeComponents = ['kubelet', 'proxy'];
/** `down` stops in this order: first whatever would restart pods, then pods, then the control plane from the top. */
const stopOrder = [
  ['kubelet'],
  ['pods'],
  ['proxy', 'kube-scheduler', 'kube-controller-manager'],
  ['kube-apiserver'],
  ['etcd'],
];
const stopGraceMs = 10_000;

/**
 * Starts the local cluster in `stateDir` (default .lastcall/cluster), or
 * reports the one already running there. A previous cluster with a dead
 * component is reported with that component's log tail, stopped, and
 * replaced.
 */
export async function up(opts: UpOptions = {}): Promise<ClusterHandle> {
  const stateDir = resolve(opts.stateDir ?? defaultStateDir);
  const wanted = opts.components ?? 'all';
  if (wanted !== 'all' && wanted !== 'control-plane') {
    throw new Error(`components: ${JSON.stringify(wanted)} is not one of "all", "control-plane"`);
  }
  const progress = progressReporter(opts.onProgress);
  if (wanted === 'all') {
    for (const main of [kubeletMain(repoRoot), proxyMain(repoRoot)]) {
      if (!existsSync(main)) {
        throw new Error(
          `components: "all" needs ${main}, which does not exist; use components: "control-plane" (CLI: --control-plane) for a cluster without a node`,
        );
      }
    }
  }
  return withClusterLock(stateDir, progress, async () => {
    const existing = await reuseRunning(stateDir, wanted, progress);
    if (existing !== undefined) {
      if (opts.endpointDelaySeconds !== undefined) {
        await applyEndpointDelay(stateDir, opts.endpointDelaySeconds, progress);
      }
      return existing;
    }
    // Ports are chosen free, but another process may bind one before the
    // component does (ports.ts). A few times is bad luck; more is reported.
    for (let attempt = 1; ; attempt++) {
      try {
        return await startFresh(stateDir, wanted, opts.endpointDelaySeconds ?? 0, progress);
      } catch (error) {
        const portTaken = error instanceof ComponentFailed && /address already in use/i.test(error.message);
        if (!portTaken || attempt >= PORT_RACE_ATTEMPTS) throw error;
        progress(`${error.component} found its port taken since it was chosen; starting again on new ports`);
        await rm(stateDir, { recursive: true, force: true });
      }
    }
  });
}

/** Stops every process the cluster in `stateDir` started (by PID, process group by process group) and removes the state. */
export async function down(
  opts: { stateDir?: string; onProgress?: (line: string) => void } = {},
): Promise<void> {
  const stateDir = resolve(opts.stateDir ?? defaultStateDir);
  const progress = progressReporter(opts.onProgress);
  await withClusterLock(stateDir, progress, async () => {
    if (existsSync(stateDir)) {
      await stopAll(stateDir, progress);
      await rm(stateDir, { recursive: true, force: true });
      progress(`removed ${stateDir}`);
    }
    // After the processes are gone, so the next cluster given these ranges finds their twins free.
    await releaseNetwork(stateDir);
  });
}

export async function status(opts: { stateDir?: string } = {}): Promise<ClusterStatus> {
  const stateDir = resolve(opts.stateDir ?? defaultStateDir);
  const paths = statePaths(stateDir);
  const state = await readJson<ClusterState>(paths.cluster);
  const pids = await PidFile.load(paths.pids);
  const components: ComponentStatus[] = [];
  for (const record of pids.records.values()) {
    const alive = await isAlive(record);
    const rssBytes = alive ? await residentBytes(record.pid) : undefined;
    components.push({
      name: record.name,
      pid: record.pid,
      alive,
      endpoint: record.endpoint,
      log: record.log,
      ...(rssBytes === undefined ? {} : { rssBytes }),
      ...(alive ? {} : { logTail: await logTail(record.log) }),
    });
  }
  let podProcessGroups = 0;
  for (const group of await kubeletPodGroups(stateDir)) {
    if (existsSync(`/proc/${group.pgid}`)) podProcessGroups += 1;
  }
  const apiReady =
    state !== undefined && (await isHealthy(`${state.server}/readyz`, adminTls(pkiLayout(paths.pki))));
  return {
    stateDir,
    running:
      state?.readyAt !== undefined && components.length > 0 && components.every((c) => c.alive) && apiReady,
    ...(state === undefined
      ? {}
      : {
          server: state.server,
          kubeconfig: state.kubeconfig,
          binDir: state.binDir,
          network: state.network ?? defaultNetwork,
          endpointDelaySeconds: state.endpointDelaySeconds ?? 0,
        }),
    components,
    podProcessGroups,
  };
}

/**
 * Changes the service proxy's endpoint delay of the running cluster in `stateDir`: in effect for
 * the proxy when this returns, and recorded in cluster.json so a restarted proxy keeps it.
 * Returns the delay it replaced.
 */
export async function setEndpointDelay(
  seconds: number,
  opts: { stateDir?: string; onProgress?: (line: string) => void } = {},
): Promise<number> {
  const stateDir = resolve(opts.stateDir ?? defaultStateDir);
  const progress = progressReporter(opts.onProgress);
  return withClusterLock(stateDir, progress, () => applyEndpointDelay(stateDir, seconds, progress));
}

async function applyEndpointDelay(stateDir: string, seconds: number, progress: Progress): Promise<number> {
  const state = await readJson<ClusterState>(statePaths(stateDir).cluster);
  if (state === undefined)
    throw new Error(`no cluster in ${stateDir}; start one with: npm run cluster -- up`);
  if (state.components !== 'all') {
    throw new Error(
      `the cluster in ${stateDir} has no node, hence no service proxy (started with --control-plane)`,
    );
  }
  const before = state.endpointDelaySeconds ?? 0;
  const url = `http://127.0.0.1:${state.ports.proxyHealth}/endpoint-delay?seconds=${seconds}`;
  const response = await httpCall('PUT', url).catch((error: unknown) => ({
    status: 0,
    body: (error as Error).message,
  }));
  if (response.status !== 200) {
    throw new Error(
      `the service proxy did not take the endpoint delay ${seconds} s: ${response.status} ${response.body}`,
    );
  }
  await writeJson(statePaths(stateDir).cluster, { ...state, endpointDelaySeconds: seconds });
  if (before !== seconds) progress(`service proxy endpoint delay: ${before} s -> ${seconds} s`);
  return before;
}

/** The components `restartComponent` can restart: the ones whose restart a test or a fault needs. */
export const restartableComponents = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'proxy'];

/**
 * Stops one component of the running cluster in `stateDir` (SIGTERM to its process group, SIGKILL
 * after 10 s) and starts it again with the same flags, ports and state, waiting until it is healthy.
 * The fault experiments use it for kube-apiserver: every client's watch breaks and reconnects.
 */
export async function restartComponent(
  name: string,
  opts: { stateDir?: string; onProgress?: (line: string) => void } = {},
): Promise<{ downSeconds: number }> {
  if (!restartableComponents.includes(name)) {
    throw new Error(`cannot restart "${name}"; restartable: ${restartableComponents.join(', ')}`);
  }
  const stateDir = resolve(opts.stateDir ?? defaultStateDir);
  const progress = progressReporter(opts.onProgress);
  return withClusterLock(stateDir, progress, async () => {
    const paths = statePaths(stateDir);
    const state = await readJson<ClusterState>(paths.cluster);
    if (state === undefined) throw new Error(`no cluster in ${stateDir}`);
    const layout = layoutOf(stateDir, state);
    const component =
      name === 'kube-apiserver'
        ? apiserver(layout)
        : name === 'kube-controller-manager'
          ? controllerManager(layout)
          : name === 'kube-scheduler'
            ? await scheduler(layout)
            : proxy(layout);
    const pids = await PidFile.load(paths.pids);
    const record = pids.records.get(name);
    const begin = Date.now();
    if (record !== undefined) await stopDaemons([record]);
    progress(`${name} stopped`);
    const started: Daemon[] = [];
    await launch(component, layout, pids, started, progress);
    return { downSeconds: (Date.now() - begin) / 1000 };
  });
}

async function reuseRunning(
  stateDir: string,
  wanted: ComponentSet,
  progress: Progress,
): Promise<ClusterHandle | undefined> {
  if (!existsSync(stateDir)) return undefined;
  const current = await status({ stateDir });
  const state = await readJson<ClusterState>(statePaths(stateDir).cluster);
  if (current.running && state !== undefined) {
    progress(`cluster already running in ${stateDir} (API server ${state.server})`);
    if (wanted === 'all' && state.components === 'control-plane') {
      // Asked for a node on a control-plane-only cluster: add it.
      const layout = layoutOf(stateDir, state);
      const pids = await PidFile.load(statePaths(stateDir).pids);
      const started: Daemon[] = [];
      try {
        await startNode(layout, pids, started, progress);
      } catch (error) {
        await stopDaemons(started.map((daemon) => daemon.record));
        throw error;
      }
      await writeJson(statePaths(stateDir).cluster, {
        ...state,
        components: 'all',
        readyAt: new Date().toISOString(),
      });
    }
    return handleOf(stateDir, state);
  }
  const dead = current.components.filter((component) => !component.alive);
  for (const component of dead) {
    progress(
      `previous cluster: ${component.name} (pid ${component.pid}) is not running; last lines of ${component.log}:\n${indent(component.logTail ?? '')}`,
    );
  }
  progress(
    `previous cluster in ${stateDir} is not healthy (never finished starting, or a component died): replacing it`,
  );
  await stopAll(stateDir, progress);
  await rm(stateDir, { recursive: true, force: true });
  return undefined;
}

async function startFresh(
  stateDir: string,
  wanted: ComponentSet,
  endpointDelaySeconds: number,
  progress: Progress,
): Promise<ClusterHandle> {
  const paths = statePaths(stateDir);
  progress('finding the upstream binaries (the first run builds them, which takes long)');
  const binDir = await ensureTools(progress);
  await mkdir(paths.logs, { recursive: true });
  await mkdir(paths.kubeconfigs, { recursive: true });
  // After the state dir exists: the registry counts an entry whose dir is gone as stale.
  const network = await allocateNetwork(stateDir);
  progress(
    `network ${network.index}: pod network ${network.podNetwork}, service range ${network.serviceNetwork}`,
  );
  const ports = await freePortsNamed([
    'etcdClient',
    'etcdPeer',
    'apiserver',
    'controllerManager',
    'scheduler',
    'kubeletHealth',
    'proxyHealth',
  ] as const);
  const state: ClusterState = {
    version: 1,
    server: `https://127.0.0.1:${ports.apiserver}`,
    kubeconfig: paths.kubeconfig,
    binDir,
    ports,
    network,
    components: wanted,
    ...(endpointDelaySeconds === 0 ? {} : { endpointDelaySeconds }),
    createdAt: new Date().toISOString(),
  };
  const layout = layoutOf(stateDir, state);
  await createPki(layout.pki.dir, { kubernetesServiceIP: network.kubernetesServiceIP });
  for (const [identity, file] of Object.entries(layout.kubeconfigs) as [ClientIdentity, string][]) {
    const pair = layout.pki.clients[identity];
    await writeKubeconfig(file, {
      server: state.server,
      caCert: layout.pki.caCert,
      cert: pair.cert,
      key: pair.key,
      user: identity,
    });
  }
  await writeJson(paths.cluster, state);
  progress(`PKI and kubeconfigs written to ${stateDir}`);

  const pids = new PidFile(paths.pids);
  const started: Daemon[] = [];
  try {
    await launch(etcd(layout), layout, pids, started, progress);
    await launch(apiserver(layout), layout, pids, started, progress);
    const schedulerComponent = await scheduler(layout);
    await Promise.all([
      launch(controllerManager(layout), layout, pids, started, progress),
      launch(schedulerComponent, layout, pids, started, progress),
    ]);
    // The serviceaccount controller creates `default` in every namespace;
    // pods cannot be created in a namespace before it exists.
    await waitUntil(
      'the default ServiceAccount in namespace default',
      60_000,
      started,
      progress,
      async () => {
        const serviceAccount = await apiGet(
          layout,
          resourcePath(coreTypes.serviceAccount, { namespace: 'default', name: 'default' }),
        );
        return serviceAccount !== undefined;
      },
    );
    if (wanted === 'all') await startNode(layout, pids, started, progress);
  } catch (error) {
    progress(
      `start failed; stopping what was started (logs stay in ${paths.logs} until the next up or down)`,
    );
    await stopDaemons(started.map((daemon) => daemon.record));
    throw error;
  }
  await writeJson(paths.cluster, { ...state, readyAt: new Date().toISOString() });
  progress(`cluster ready: export KUBECONFIG=${paths.kubeconfig}`);
  return handleOf(stateDir, state);
}

/** kubelet and proxy, then the Node Ready, untainted and with a pod CIDR. */
async function startNode(
  layout: ClusterLayout,
  pids: PidFile,
  started: Daemon[],
  progress: Progress,
): Promise<void> {
  await launch(kubelet(layout), layout, pids, started, progress);
  await launch(proxy(layout), layout, pids, started, progress);
  // The node lifecycle controller removes node.kubernetes.io/not-ready once it
  // sees Ready=True (every --node-monitor-period, 5 s); the node IPAM
  // controller sets spec.podCIDR, from which the kubelet assigns pod IPs.
  await waitUntil(
    `node ${nodeName} Ready, untainted and with a pod CIDR`,
    120_000,
    started,
    progress,
    async () => {
      const node = await apiGet<{
        spec?: { podCIDR?: string; taints?: { key: string }[] };
        status?: { conditions?: { type: string; status: string }[] };
      }>(layout, resourcePath(coreTypes.node, { name: nodeName }));
      if (node === undefined) return false;
      const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
      const notReadyTaint = node.spec?.taints?.some((t) => t.key === 'node.kubernetes.io/not-ready') ?? false;
      return ready && !notReadyTaint && (node.spec?.podCIDR ?? '') !== '';
    },
  );
}

async function launch(
  component: Component,
  layout: ClusterLayout,
  pids: PidFile,
  started: Daemon[],
  progress: Progress,
): Promise<void> {
  const name = component.spec.name;
  const log = join(statePaths(layout.stateDir).logs, `${name}.log`);
  const daemon = await startDaemon(component.spec, log);
  started.push(daemon);
  await pids.add(daemon.record);
  progress(`${name} started (pid ${daemon.record.pid}, log ${log})`);
  await waitUntil(`${name} healthy at ${component.health.url}`, component.timeoutMs, started, progress, () =>
    isHealthy(component.health.url, component.health.tls),
  );
}

/**
 * Polls `condition` until it holds. Fails at once, with the log tail, when any
 * component started by this `up` exits meanwhile, and after `timeoutMs` with
 * the tail of the most recently started component's log.
 */
async function waitUntil(
  what: string,
  timeoutMs: number,
  started: Daemon[],
  progress: Progress,
  condition: () => Promise<boolean>,
): Promise<void> {
  const begin = Date.now();
  let nextNote = begin + 15_000;
  for (;;) {
    for (const daemon of started) {
      const exit = exitDescription(daemon.child);
      if (exit !== undefined) {
        throw new ComponentFailed(
          daemon.record.name,
          exit,
          daemon.record.log,
          await logTail(daemon.record.log),
        );
      }
    }
    if (await condition()) {
      progress(`${what} (${((Date.now() - begin) / 1000).toFixed(1)} s)`);
      return;
    }
    if (Date.now() - begin > timeoutMs) {
      const last = started.at(-1)?.record;
      throw new ComponentFailed(
        last?.name ?? 'cluster',
        `did not get to "${what}" within ${timeoutMs / 1000} s`,
        last?.log ?? '(no log)',
        last === undefined ? '' : await logTail(last.log),
      );
    }
    if (Date.now() > nextNote) {
      progress(`still waiting for ${what}`);
      nextNote = Date.now() + 15_000;
    }
    await sleep(200);
  }
}

/** Stops every recorded component and pod process group of the cluster in `stateDir`. */
async function stopAll(stateDir: string, progress: Progress): Promise<void> {
  const pids = await PidFile.load(statePaths(stateDir).pids);
  for (const names of stopOrder) {
    // Pod groups are read after the kubelet is gone, so it cannot add one meanwhile.
    const groups = names.includes('pods')
      ? await kubeletPodGroups(stateDir)
      : names.flatMap((name) => {
          const record = pids.records.get(name);
          return record === undefined ? [] : [{ name, pgid: record.pid, startTime: record.startTime }];
        });
    if (groups.length === 0) continue;
    const killed = await stopGroups(groups, stopGraceMs);
    for (const name of killed) progress(`${name} ignored SIGTERM for ${stopGraceMs / 1000} s and was killed`);
  }
  const known = new Set([...controlPlane, ...nodeComponents]);
  const others = [...pids.records.values()].filter((record) => !known.has(record.name));
  if (others.length > 0) await stopDaemons(others);
  progress(`stopped ${pids.records.size} components`);
}

async function stopDaemons(records: DaemonRecord[]): Promise<void> {
  await stopGroups(
    records.map((record) => ({ name: record.name, pgid: record.pid, startTime: record.startTime })),
    stopGraceMs,
  );
}

function layoutOf(stateDir: string, state: ClusterState): ClusterLayout {
  const paths = statePaths(stateDir);
  const identities: ClientIdentity[] = [
    'admin',
    'kube-controller-manager',
    'kube-scheduler',
    'kubelet',
    'kube-proxy',
  ];
  return {
    stateDir,
    binDir: state.binDir,
    repoRoot,
    pki: pkiLayout(paths.pki),
    ports: state.ports,
    network: state.network ?? defaultNetwork,
    endpointDelaySeconds: state.endpointDelaySeconds ?? 0,
    kubeconfigs: Object.fromEntries(
      identities.map((identity) => [
        identity,
        identity === 'admin' ? paths.kubeconfig : join(paths.kubeconfigs, `${identity}.kubeconfig`),
      ]),
    ) as ClusterLayout['kubeconfigs'],
  };
}

function handleOf(stateDir: string, state: ClusterState): ClusterHandle {
  return { stateDir, kubeconfig: state.kubeconfig, server: state.server, binDir: state.binDir };
}

function adminTls(pki: ClusterLayout['pki']): TlsFiles {
  return { ca: pki.caCert, cert: pki.clients.admin.cert, key: pki.clients.admin.key };
}

/** GET `path` as the cluster admin; undefined while the API server cannot answer it (yet). */
async function apiGet<T>(layout: ClusterLayout, path: string): Promise<T | undefined> {
  const { caCert, clients } = layout.pki;
  const client = await KubeClient.connect(
    {
      server: apiserverUrl(layout),
      tls: {
        ca: readFileSync(caCert),
        cert: readFileSync(clients.admin.cert),
        key: readFileSync(clients.admin.key),
      },
      headers: async () => ({}),
    },
    { userAgent: 'lastcall-launcher', timeoutMs: 5_000 },
  );
  try {
    return await client.get<T>(path);
  } catch {
    return undefined;
  } finally {
    await client.close();
  }
}

type Progress = (line: string) => void;

function progressReporter(onProgress: ((line: string) => void) | undefined): Progress {
  const begin = Date.now();
  return (line) => onProgress?.(`[cluster +${((Date.now() - begin) / 1000).toFixed(1)}s] ${line}`);
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  | ${line}`)
    .join('\n');
}

/** withLock on the cluster's state dir, saying which process it waits for. */
function withClusterLock<T>(
  stateDir: string,
  progress: (line: string) => void,
  work: () => Promise<T>,
): Promise<T> {
  return withLock(
    stateDir,
    (owner) =>
      progress(`waiting for process ${owner}, which is starting or stopping the cluster in ${stateDir}`),
    work,
  );
}
