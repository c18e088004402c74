import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { KubeClient } from '../../kube/client.ts';
import { ApiError } from '../../kube/errors.ts';
import type { EventRecorder } from '../../kube/events.ts';
import { coreTypes, resourcePath } from '../../kube/resources.ts';
import type { ImageMap } from '../images.ts';
import { ContainerRunner, type PodContext } from './container.ts';
import type { EnvSources } from './env.ts';
import type { HostsPod } from './hosts.ts';
import { PodDir, SERVICE_ACCOUNT_DIR, ServiceAccountToken } from './pod-files.ts';
import { ConditionClock, kubeletConditions, podPhase } from './pod-status.ts';
import { PodStatusWriter } from './status-writer.ts';
import type { Pod } from './types.ts';
import { prepareVolumes } from './volumes.ts';

/**
 * One pod's life on this node (the kubelet's pod worker): set up its sandbox (IP, hosts file,
 * service-account files), run init containers in order, start the containers and keep them
 * running per restartPolicy; on deletion kill all containers in parallel, write the terminal
 * status and remove the pod with a grace-0, UID-preconditioned DELETE.
 */
interface NodeServices {
  api: KubeClient;
  log: Logger;
  events: EventRecorder;
  images(): ImageMap;
  nodeName: string;
  stateDir: string;
  pidDir: string;
  repo: string;
  nodeBinary: string;
  apiServerPort: number;
  caFile: string;
  allocateIP(owner: string): Promise<string>;
  releaseIP(owner: string): void;
  /** Renders the pod's hosts file now and whenever Services change. */
  registerHosts(uid: string, file: string, pod: HostsPod): Promise<void>;
  unregisterHosts(uid: string): void;
}

export class PodWorker {
  #pod: Pod;
  readonly #node: NodeServices;
  readonly #log: Logger;
  readonly #writer: PodStatusWriter;
  readonly #clock = new ConditionClock();
  #podIP = '';
  #dir: PodDir | undefined;
  #token: ServiceAccountToken | undefined;
  #initRunners: ContainerRunner[] = [];
  #runners: ContainerRunner[] = [];
  #initialized = false;
  #initFailed = false;
  #sandboxReady = false;
  #startTime: string | undefined;
  #terminating: Promise<void> | undefined;
  #removedFromApi = false;
  #statusQueued = false;
  #finished = false;
  /** Every container of the terminating pod has been stopped. */
  #killed = false;
  readonly #stopAll = new AbortController();
  /** Called once the pod is gone for good (deleted from the API or its worker torn down). */
  onDone: () => void = () => {};

  constructor(pod: Pod, node: NodeServices) {
    this.#pod = pod;
    this.#node = node;
    this.#log = node.log.child({
      pod: `${pod.metadata.namespace}/${pod.metadata.name}`,
      uid: pod.metadata.uid,
    });
    this.#writer = new PodStatusWriter(
      node.api,
      this.#log,
      pod.metadata.namespace,
      pod.metadata.name,
      pod.metadata.uid,
    );
  }

  get uid(): string {
    return this.#pod.metadata.uid;
  }

  /** Level-triggered: called with the latest object for every watch event (duplicates welcome). */
  update(pod: Pod | undefined): void {
    if (!pod) {
      this.#removedFromApi = true;
      this.#writer.markGone();
      void this.terminate();
      return;
    }
    const priorGrace = this.#pod.metadata.deletionGracePeriodSeconds;
    this.#pod = pod;
    if (!pod.metadata.deletionTimestamp) return;
    const grace = pod.metadata.deletionGracePeriodSeconds;
    if (this.#terminating && grace !== undefined && priorGrace !== undefined && grace < priorGrace) {
      this.#log.info({ from: priorGrace, to: grace }, 'grace period shortened by a later delete');
      for (const r of [...this.#initRunners, ...this.#runners]) r.shorten(grace);
    }
    void this.terminate();
  }

  async run(): Promise<void> {
    // First seen while already being deleted (e.g. after a kubelet restart): only terminate.
    if (this.#pod.metadata.deletionTimestamp || this.#terminating) return;
    const phase = this.#pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      // Already terminal (e.g. before a kubelet restart): nothing to run, wait for the deletion.
      this.#finished = true;
      return;
    }
    // Set-up failures (a missing ConfigMap for a volume, an API hiccup) are retried, as the
    // kubelet's pod sync retries mounts, until the pod is deleted.
    for (let delay = 1_000; ; delay = Math.min(delay * 2, 30_000)) {
      try {
        await this.#setUp();
        break;
      } catch (err) {
        if (this.#stopAll.signal.aborted) return;
        this.#log.warn({ err: String(err) }, 'pod set-up failed, retrying');
        this.#event('Warning', 'FailedMount', `Unable to set up the pod: ${(err as Error).message}`);
        await sleep(delay);
        if (this.#stopAll.signal.aborted) return;
      }
    }
    if (this.#stopAll.signal.aborted) return;
    const restartPolicy = this.#pod.spec.restartPolicy;
    for (const init of this.#initRunners) {
      const code = await init.runToCompletion(restartPolicy);
      if (this.#stopAll.signal.aborted) return;
      if (code !== 0) {
        this.#initFailed = true;
        this.#finished = true;
        this.changed();
        return;
      }
    }
    this.#initialized = true;
    this.changed();
    // Containers start in spec order; postStart of one blocks the next (kubelet startContainer).
    const supervised: Promise<void>[] = [];
    for (const r of this.#runners) {
      if (this.#stopAll.signal.aborted) break;
      supervised.push(r.supervise(restartPolicy));
      await r.firstStart;
    }
    await Promise.all(supervised);
    if (!this.#terminating) {
      this.#finished = true;
      this.changed();
    }
  }

  #event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    // Not awaited: an event never holds up the pod; flush() before the final DELETE waits for all.
    void this.#node.events.record(
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: this.#pod.metadata.name, namespace: this.#pod.metadata.namespace, uid: this.uid },
      },
      type,
      reason,
      message,
    );
  }

  #serviceAccountMount(): { mounted: boolean; expirationSeconds: number } {
    // The ServiceAccount admission plugin adds a projected kube-api-access volume mounted at this path.
    for (const c of [...(this.#pod.spec.initContainers ?? []), ...this.#pod.spec.containers]) {
      for (const m of c.volumeMounts ?? []) {
        if (m.mountPath !== SERVICE_ACCOUNT_DIR) continue;
        const vol = this.#pod.spec.volumes?.find((v) => v.name === m.name);
        const src = vol?.projected?.sources?.find((s) => s.serviceAccountToken)?.serviceAccountToken;
        if (src) return { mounted: true, expirationSeconds: src.expirationSeconds ?? 3607 };
      }
    }
    return { mounted: false, expirationSeconds: 0 };
  }

  async #setUp(): Promise<void> {
    const p = this.#pod;
    this.#dir = new PodDir(this.#node.stateDir, p.metadata.uid);
    this.#startTime = p.status?.startTime ?? new Date().toISOString();
    const recorded = p.status?.podIP;
    this.#podIP = recorded ?? (await this.#node.allocateIP(p.metadata.uid));
    const sa = this.#serviceAccountMount();
    const volumes = await prepareVolumes(p.spec.volumes, this.#dir.root, this.#envSources());
    if (volumes.unsupported.length) {
      this.#event(
        'Warning',
        'FailedMount',
        `volumes ${volumes.unsupported.join(', ')}: type not supported by the lastcall process kubelet, not mounted`,
      );
    }
    const ctx: PodContext = {
      pod: () => this.#pod,
      podIP: this.#podIP,
      hostIP: '127.0.0.1',
      nodeName: this.#node.nodeName,
      dir: this.#dir,
      log: this.#log,
      events: this.#node.events,
      images: () => this.#node.images(),
      nodeBinary: this.#node.nodeBinary,
      repo: this.#node.repo,
      apiServerPort: this.#node.apiServerPort,
      pidDir: this.#node.pidDir,
      envSources: this.#envSources(),
      serviceAccountMounted: sa.mounted,
      volumes: volumes.prepared,
      changed: () => this.changed(),
    };
    // After a kubelet restart the old processes are gone (killed as orphans): a container that had
    // run counts one more restart, as it would after any other unplanned stop.
    const restarts = new Map(
      (p.status?.containerStatuses ?? []).map((s) => [
        s.name,
        (s.restartCount ?? 0) + (s.state?.running || s.state?.terminated ? 1 : 0),
      ]),
    );
    this.#initRunners = (p.spec.initContainers ?? []).map((c) => new ContainerRunner(ctx, c, 'init', 0));
    this.#runners = p.spec.containers.map(
      (c) => new ContainerRunner(ctx, c, 'regular', restarts.get(c.name) ?? 0),
    );
    this.#initialized = this.#initRunners.length === 0;
    await this.#node.registerHosts(p.metadata.uid, this.#dir.hosts, {
      name: p.metadata.name,
      namespace: p.metadata.namespace,
      ...(p.spec.hostname ? { hostname: p.spec.hostname } : {}),
      ...(p.spec.hostAliases ? { hostAliases: p.spec.hostAliases } : {}),
      podIP: this.#podIP,
    });
    if (sa.mounted) {
      this.#token = new ServiceAccountToken(
        this.#node.api,
        this.#log,
        this.#dir.serviceAccount,
        {
          name: p.metadata.name,
          namespace: p.metadata.namespace,
          uid: p.metadata.uid,
          serviceAccountName: p.spec.serviceAccountName ?? 'default',
        },
        this.#node.caFile,
        sa.expirationSeconds,
      );
      let delay = 500;
      for (;;) {
        try {
          await this.#token.start();
          break;
        } catch (err) {
          if (this.#stopAll.signal.aborted) throw err;
          this.#event(
            'Warning',
            'FailedMount',
            `MountVolume.SetUp failed for service account token: ${(err as Error).message}`,
          );
          await sleep(delay);
          delay = Math.min(delay * 2, 10_000);
        }
      }
    }
    this.#sandboxReady = true;
    this.changed();
  }

  #envSources(): EnvSources {
    const { api } = this.#node;
    const ns = this.#pod.metadata.namespace;
    const read = async (kind: 'configmaps' | 'secrets', name: string) => {
      try {
        const o = await api.get<{ data?: Record<string, string> }>(
          resourcePath(kind === 'configmaps' ? coreTypes.configMap : coreTypes.secret, {
            namespace: ns,
            name,
          }),
        );
        const data = o.data ?? {};
        if (kind === 'configmaps') return data;
        return Object.fromEntries(
          Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
        );
      } catch (err) {
        if (err instanceof ApiError && (err.code === 404 || err.code === 403)) return undefined;
        throw err;
      }
    };
    return { configMap: (n) => read('configmaps', n), secret: (n) => read('secrets', n) };
  }

  /** Coalesces status changes into one write per tick. */
  changed(): void {
    if (this.#statusQueued || this.#removedFromApi) return;
    this.#statusQueued = true;
    queueMicrotask(() => {
      this.#statusQueued = false;
      void this.#writer.set(this.#status());
    });
  }

  #status(): Record<string, unknown> {
    const now = new Date().toISOString();
    const terminating = this.#terminating !== undefined;
    const summary = (r: ContainerRunner) => ({
      running: r.isRunning,
      ready: r.ready && r.isRunning,
      exitCode: r.exitCode(),
      everRan: r.isRunning || r.exitCode() !== undefined || r.restartCount > 0,
      final:
        terminating ||
        this.#finished ||
        (!r.isRunning && r.exitCode() !== undefined && !this.#willRestart(r)),
    });
    const existing = this.#pod.status?.conditions ?? [];
    const s = {
      sandboxReady: this.#sandboxReady && !(terminating && this.#runners.every((r) => !r.isRunning)),
      initialized: this.#initialized,
      initFailed: this.#initFailed,
      containers: this.#runners.map(summary),
      readinessGates: (this.#pod.spec.readinessGates ?? []).map((g) => g.conditionType),
      existingConditions: existing,
      terminated:
        terminating && [...this.#initRunners, ...this.#runners].every((r) => !r.isRunning) && this.#killed,
    };
    const conditions = kubeletConditions(s).map((c) => {
      const status = c.status ? 'True' : 'False';
      return {
        type: c.type,
        status,
        lastProbeTime: null,
        lastTransitionTime: this.#clock.stamp(c.type, status, now),
        ...(c.reason ? { reason: c.reason } : {}),
      };
    });
    return {
      // PodObservedGenerationTracking: which spec generation this status describes.
      ...(this.#pod.metadata.generation ? { observedGeneration: this.#pod.metadata.generation } : {}),
      phase: podPhase(s),
      conditions,
      hostIP: '127.0.0.1',
      hostIPs: [{ ip: '127.0.0.1' }],
      ...(this.#podIP ? { podIP: this.#podIP, podIPs: [{ ip: this.#podIP }] } : {}),
      ...(this.#startTime ? { startTime: this.#startTime } : {}),
      ...(this.#initRunners.length
        ? { initContainerStatuses: this.#initRunners.map((r) => r.status()) }
        : {}),
      containerStatuses: this.#runners.map((r) => r.status()),
    };
  }

  #willRestart(r: ContainerRunner): boolean {
    const policy = this.#pod.spec.restartPolicy ?? 'Always';
    return policy === 'Always' || (policy === 'OnFailure' && r.exitCode() !== 0);
  }

  /** The kubelet's termination of a deleted pod (pkg/kubelet/pod_workers.go SyncTerminatingPod). */
  terminate(): Promise<void> {
    if (!this.#terminating) this.#terminating = this.#doTerminate();
    return this.#terminating;
  }

  async #doTerminate(): Promise<void> {
    this.#stopAll.abort();
    const all = [...this.#initRunners, ...this.#runners];
    for (const r of all) r.stop();
    this.changed();
    this.#log.info(
      {
        deletionGracePeriodSeconds: this.#pod.metadata.deletionGracePeriodSeconds,
        removedFromApi: this.#removedFromApi,
      },
      'terminating pod',
    );
    await Promise.all(all.map((r) => r.kill('deletion')));
    this.#killed = true;
    this.#token?.stop();
    if (!this.#removedFromApi) {
      this.changed();
      await new Promise((r) => queueMicrotask(() => r(undefined)));
      await this.#writer.flushed();
      await this.#node.events.flush();
      await this.#finalDelete();
    }
    this.#cleanUp();
  }

  /** DELETE with grace 0 and a UID precondition: only this incarnation of the name is removed. */
  async #finalDelete(): Promise<void> {
    const { namespace, name, uid } = this.#pod.metadata;
    let delay = 200;
    for (let attempt = 0; attempt < 20 && !this.#removedFromApi; attempt++) {
      try {
        await this.#node.api.request('DELETE', resourcePath(coreTypes.pod, { namespace, name }), {
          body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid } },
        });
        this.#log.info('pod removed from the API');
        return;
      } catch (err) {
        if (err instanceof ApiError && (err.code === 404 || err.code === 409)) return;
        this.#log.warn({ err: String(err) }, 'final delete failed, retrying');
        await sleep(delay);
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }

  #cleanUp(): void {
    this.#node.unregisterHosts(this.uid);
    this.#node.releaseIP(this.uid);
    try {
      this.#dir?.archiveLogs(this.#node.stateDir, this.#pod.metadata.namespace, this.#pod.metadata.name);
    } catch (err) {
      this.#log.warn({ err: String(err) }, 'container logs not archived');
    }
    this.#dir?.remove();
    this.onDone();
  }

  get name(): { namespace: string; name: string } {
    return { namespace: this.#pod.metadata.namespace, name: this.#pod.metadata.name };
  }

  logFile(container: string, previous: boolean): string | undefined {
    const r = [...this.#initRunners, ...this.#runners].find((x) => x.spec.name === container);
    if (!r || !this.#dir) return undefined;
    const run = previous ? r.restartCount - 1 : r.restartCount;
    return run < 0 ? undefined : this.#dir.logFile(container, run);
  }

  containerRunning(container: string): boolean {
    return [...this.#initRunners, ...this.#runners].some((x) => x.spec.name === container && x.isRunning);
  }

  /** Kubelet shutdown: kill every container now (SIGKILL to the groups), no API writes. */
  killNow(): void {
    this.#stopAll.abort();
    for (const r of [...this.#initRunners, ...this.#runners]) {
      r.stop();
      r.killGroupNow();
    }
  }
}
