import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { EventRecorder } from '../../kube/events.ts';
import { loopbackTwin } from '../addresses.ts';
import { type ImageMap, ImageNotFoundError, imageRepository, resolveCommand } from '../images.ts';
import { CrashBackoff, shouldRestart } from './backoff.ts';
import { Deadline } from './deadline.ts';
import { buildEnv, ContainerConfigError, type EnvSources, expandArgv, type PodFacts } from './env.ts';
import { type ActionTarget, runHook, runProbeAction } from './handlers.ts';
import { DEFAULT_TERMINATION_MESSAGE_PATH, type PodDir, SERVICE_ACCOUNT_DIR } from './pod-files.ts';
import { ProbeThresholds, probeTiming } from './probe-state.ts';
import { type BindMount, ContainerProcess } from './runner.ts';
import { type ProcessIdentity, parseImageUser, processIdentity, setprivArgv } from './security.ts';
import {
  exitStatus,
  gracePeriodSeconds,
  type KillReason,
  MINIMUM_GRACE_PERIOD_SECONDS,
  runsPreStop,
  stopSignal,
  stopWindowSeconds,
  terminationMessage,
} from './termination.ts';
import type { Container, Pod, Probe } from './types.ts';
import { volumeMounts } from './volumes.ts';

/** What a container needs from its pod. */
export interface PodContext {
  pod(): Pod;
  readonly podIP: string;
  readonly hostIP: string;
  readonly nodeName: string;
  readonly dir: PodDir;
  readonly log: Logger;
  readonly events: EventRecorder;
  /** The image map, re-read at every container start so edits apply without a kubelet restart. */
  images(): ImageMap;
  readonly nodeBinary: string;
  readonly repo: string;
  readonly apiServerPort: number;
  readonly pidDir: string;
  readonly envSources: EnvSources;
  readonly serviceAccountMounted: boolean;
  /** Prepared pod volumes (emptyDir, configMap, secret): name -> host directory. */
  readonly volumes: Map<string, string>;
  /** Something in this container's status changed. */
  changed(): void;
}

type State =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | {
      terminated: {
        exitCode: number;
        signal?: number;
        reason: string;
        message?: string;
        startedAt: string;
        finishedAt: string;
        containerID?: string;
      };
    };

const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class ContainerRunner {
  readonly spec: Container;
  readonly kind: 'init' | 'regular';
  restartCount: number;
  state: State = { waiting: { reason: 'ContainerCreating' } };
  lastState: State | Record<string, never> = {};
  ready = false;
  started = false;
  readonly #ctx: PodContext;
  #process: ContainerProcess | undefined;
  #containerID = '';
  #env: Record<string, string> = {};
  #pullFailures = 0;
  #identity: ProcessIdentity = { uid: 0, gid: 0, groups: [], noNewPrivs: false, readOnlyRoot: false };
  /** The image's WORKDIR and VOLUMEs (images.json), read with its command. */
  #imageWorkingDir: string | undefined;
  #imageVolumes: string[] = [];
  readonly #backoff = new CrashBackoff();
  /** Set when the pod terminates: no more restarts, no more liveness/startup probes. */
  readonly #stopping = new AbortController();
  /** Ends this run's probe loops. */
  #probes: AbortController | undefined;
  #killing: Promise<void> | undefined;
  #deadline: Deadline | undefined;
  #shortenedTo: number | undefined;
  #exitWaiters: (() => void)[] = [];
  #markFirstStart: () => void = () => {};
  /** Resolves once the first start attempt is over (started, or failed to be created). */
  readonly firstStart: Promise<void> = new Promise((resolve) => {
    this.#markFirstStart = resolve;
  });

  constructor(ctx: PodContext, spec: Container, kind: 'init' | 'regular', restartCount: number) {
    this.#ctx = ctx;
    this.spec = spec;
    this.kind = kind;
    this.restartCount = restartCount;
  }

  get #fieldPath(): string {
    return `spec.${this.kind === 'init' ? 'initContainers' : 'containers'}{${this.spec.name}}`;
  }

  #event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    const p = this.#ctx.pod();
    // Not awaited: an event never holds up the container.
    void this.#ctx.events.record(
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: p.metadata.name, namespace: p.metadata.namespace, uid: p.metadata.uid },
      },
      type,
      reason,
      message,
      { fieldPath: this.#fieldPath },
    );
  }

  get isRunning(): boolean {
    return this.#process?.running ?? false;
  }

  #target(): ActionTarget {
    const p = this.#ctx.pod();
    return {
      podIP: this.#ctx.podIP,
      ports: this.spec.ports ?? [],
      pid: this.#process?.pid ?? -1,
      env: this.#env,
      privileges: setprivArgv(this.#identity),
      pidDir: this.#ctx.pidDir,
      owner: `${p.metadata.namespace}/${p.metadata.name}/${this.spec.name}`,
    };
  }

  #facts(): PodFacts {
    const p = this.#ctx.pod();
    return {
      name: p.metadata.name,
      namespace: p.metadata.namespace,
      uid: p.metadata.uid,
      nodeName: this.#ctx.nodeName,
      serviceAccountName: p.spec.serviceAccountName ?? 'default',
      podIP: this.#ctx.podIP,
      hostIP: this.#ctx.hostIP,
      labels: p.metadata.labels ?? {},
      annotations: p.metadata.annotations ?? {},
    };
  }

  /**
   * A directory of the pod's own for each image volume the pod does not mount a volume over
   * (a container runtime creates one for a Dockerfile VOLUME). Kept for the pod's lifetime, so
   * data written there (redis's append-only file) survives a container restart, as on a node.
   */
  #imageVolumeMounts(): BindMount[] {
    const mounted = new Set((this.spec.volumeMounts ?? []).map((m) => m.mountPath));
    return this.#imageVolumes
      .filter((path) => !mounted.has(path))
      .map((path) => {
        const source = join(
          this.#ctx.dir.containerDir(this.spec.name),
          'image-volumes',
          path.replaceAll('/', '_'),
        );
        mkdirSync(source, { recursive: true });
        chownSync(source, this.#identity.uid, this.#identity.gid);
        return { source, target: path, directory: true };
      });
  }

  #home(): string {
    const dir = join(this.#ctx.dir.containerDir(this.spec.name), 'home');
    mkdirSync(dir, { recursive: true });
    chownSync(dir, this.#identity.uid, this.#identity.gid);
    return dir;
  }

  /** Mount points must exist on the host; the kubelet creates empty ones (never writes into them). */
  #mounts(): BindMount[] {
    const terminationPath = this.spec.terminationMessagePath ?? DEFAULT_TERMINATION_MESSAGE_PATH;
    const termFile = this.#ctx.dir.terminationLog(this.spec.name);
    writeFileSync(termFile, '');
    // Any container user may write its termination message (the kubelet makes the file 0666).
    chmodSync(termFile, 0o666);
    const mounts: BindMount[] = [
      { source: this.#ctx.dir.hosts, target: '/etc/hosts' },
      { source: termFile, target: terminationPath },
      ...(this.#ctx.serviceAccountMounted
        ? [
            {
              source: this.#ctx.dir.serviceAccount,
              target: SERVICE_ACCOUNT_DIR,
              readOnly: true,
              directory: true,
            },
          ]
        : []),
      ...volumeMounts(this.spec, this.#ctx.volumes, SERVICE_ACCOUNT_DIR),
      ...this.#imageVolumeMounts(),
    ];
    for (const m of mounts) {
      if (existsSync(m.target)) continue;
      if (m.directory) mkdirSync(m.target, { recursive: true });
      else {
        mkdirSync(dirname(m.target), { recursive: true });
        closeSync(openSync(m.target, 'a'));
      }
    }
    return mounts;
  }

  /** Creates and starts the process; false when the container could not be created. */
  async #startOnce(): Promise<boolean> {
    const p = this.#ctx.pod();
    const twin = loopbackTwin(this.#ctx.podIP);
    let argv: string[];
    try {
      const podEnv = await buildEnv(this.#facts(), this.spec, this.#ctx.envSources);
      const resolved = resolveCommand(
        this.#ctx.images(),
        this.spec.image,
        this.spec.command,
        this.spec.args,
        {
          NODE: this.#ctx.nodeBinary,
          REPO: this.#ctx.repo,
          POD_IP: twin,
        },
      );
      this.#imageWorkingDir = resolved.imageWorkingDir;
      this.#imageVolumes = resolved.imageVolumes;
      this.#identity = processIdentity(
        p.spec.securityContext,
        this.spec.securityContext,
        parseImageUser(resolved.imageUser),
        `pod: "${p.metadata.name}_${p.metadata.namespace}(${p.metadata.uid})", container: ${this.spec.name}`,
      );
      // Only the pod's own command/args get $(VAR) expansion (kubelet ExpandContainerCommandAndArgs).
      argv =
        this.spec.command?.length || this.spec.args?.length
          ? expandArgv(resolved.argv, podEnv)
          : resolved.argv;
      this.#env = {
        PATH: BASE_PATH,
        // A home of its own: the host's ~/.kube/config must not shadow the in-cluster credentials.
        HOME: this.#home(),
        HOSTNAME: p.spec.hostname ?? p.metadata.name,
        ...resolved.imageEnv,
        KUBERNETES_SERVICE_HOST: '127.0.0.1',
        KUBERNETES_SERVICE_PORT: String(this.#ctx.apiServerPort),
        KUBERNETES_SERVICE_PORT_HTTPS: String(this.#ctx.apiServerPort),
        KUBERNETES_PORT: `tcp://127.0.0.1:${this.#ctx.apiServerPort}`,
        LASTCALL_IMAGE: this.spec.image,
        ...podEnv,
      };
    } catch (err) {
      const message = (err as Error).message;
      if (err instanceof ImageNotFoundError) {
        // A real node shows ErrImagePull, then ImagePullBackOff while it retries.
        this.#pullFailures++;
        const reason = this.#pullFailures === 1 ? 'ErrImagePull' : 'ImagePullBackOff';
        this.state = { waiting: { reason, message } };
        if (reason === 'ErrImagePull') {
          this.#event('Warning', 'Failed', `Failed to pull image "${this.spec.image}": ${message}`);
        } else {
          this.#event('Normal', 'BackOff', `Back-off pulling image "${this.spec.image}"`);
        }
        this.#event('Warning', 'Failed', `Error: ${reason}`);
      } else {
        const reason =
          err instanceof ContainerConfigError ? 'CreateContainerConfigError' : 'CreateContainerError';
        this.state = { waiting: { reason, message } };
        this.#event('Warning', 'Failed', `Error: ${message}`);
      }
      this.#ctx.changed();
      return false;
    }
    if (this.#stopping.signal.aborted) return false;
    this.#event('Normal', 'Pulled', `Container image "${this.spec.image}" already present on machine`);
    const logFile = this.#ctx.dir.logFile(this.spec.name, this.restartCount);
    const proc = new ContainerProcess({
      argv,
      env: this.#env,
      cwd: this.spec.workingDir ?? this.#imageWorkingDir ?? '/',
      logFile,
      mounts: this.#mounts(),
      pidDir: this.#ctx.pidDir,
      owner: `${p.metadata.namespace}/${p.metadata.name}/${this.spec.name}`,
      privileges: setprivArgv(this.#identity),
      readOnlyRoot: this.#identity.readOnlyRoot,
    });
    this.#process = proc;
    this.#containerID = `lastcall://${proc.pid}`;
    this.#event('Normal', 'Created', `Created container: ${this.spec.name}`);
    this.#event('Normal', 'Started', `Started container ${this.spec.name}`);
    this.#ctx.log.info(
      {
        container: this.spec.name,
        pid: proc.pid,
        argv,
        uid: this.#identity.uid,
        restartCount: this.restartCount,
      },
      'container started',
    );
    this.state = { running: { startedAt: proc.startedAt.toISOString() } };
    this.ready = false;
    this.started = !this.spec.startupProbe;
    this.#ctx.changed();
    void proc.exited.then((exit) => this.#onExit(proc, exit));

    // postStart runs right after the start and blocks the next container (kubelet startContainer).
    const postStart = this.spec.lifecycle?.postStart;
    if (postStart) {
      const r = await runHook(postStart, this.#target(), 30_000);
      if (!r.ok && proc.running) {
        this.#event('Warning', 'FailedPostStartHook', `PostStartHook failed: ${r.message}`);
        await this.kill('restart', `FailedPostStartHook`);
        return true;
      }
    }
    if (this.kind === 'regular') this.#startProbes(proc);
    return true;
  }

  #onExit(
    proc: ContainerProcess,
    exit: { code: number | null; signal: NodeJS.Signals | null; at: Date },
  ): void {
    if (this.#process !== proc) return;
    this.#probes?.abort();
    const status = exitStatus(exit.code, exit.signal);
    let fileContent = '';
    try {
      fileContent = readFileSync(this.#ctx.dir.terminationLog(this.spec.name), 'utf8');
    } catch {}
    const message = terminationMessage(
      fileContent,
      this.spec.terminationMessagePolicy,
      status.exitCode,
      () => {
        try {
          return readFileSync(this.#ctx.dir.logFile(this.spec.name, this.restartCount), 'utf8');
        } catch {
          return '';
        }
      },
    );
    this.state = {
      terminated: {
        exitCode: status.exitCode,
        ...(exit.signal ? { signal: status.exitCode - 128 } : {}),
        reason: status.reason,
        ...(message ? { message } : {}),
        startedAt: proc.startedAt.toISOString(),
        finishedAt: exit.at.toISOString(),
        containerID: this.#containerID,
      },
    };
    this.ready = false;
    this.#ctx.log.info({ container: this.spec.name, pid: proc.pid, ...status }, 'container exited');
    this.#ctx.changed();
    const waiters = this.#exitWaiters;
    this.#exitWaiters = [];
    for (const w of waiters) w();
  }

  #waitExit(): Promise<void> {
    if (!this.isRunning) return Promise.resolve();
    return new Promise((resolve) => this.#exitWaiters.push(resolve));
  }

  /** Init containers: run once to completion; resolves with the exit code (undefined when stopped). */
  async runToCompletion(restartPolicy: string | undefined): Promise<number | undefined> {
    while (!this.#stopping.signal.aborted) {
      if (!(await this.#startOnce())) {
        await sleep(10_000, undefined, { signal: this.#stopping.signal }).catch(() => undefined);
        continue;
      }
      await this.#waitExit();
      const t = 'terminated' in this.state ? this.state.terminated : undefined;
      const code = t?.exitCode ?? 1;
      if (code === 0 || this.#stopping.signal.aborted) return code;
      if (restartPolicy === 'Never') return code;
      if (!(await this.#backOff(t))) return undefined;
    }
    return undefined;
  }

  /** Regular containers: start, then restart per restartPolicy with back-off until the pod stops. */
  async supervise(restartPolicy: string | undefined): Promise<void> {
    while (!this.#stopping.signal.aborted) {
      const created = await this.#startOnce();
      this.#markFirstStart();
      if (!created) {
        await sleep(10_000, undefined, { signal: this.#stopping.signal }).catch(() => undefined);
        continue;
      }
      await this.#waitExit();
      if (this.#stopping.signal.aborted) return;
      const t = 'terminated' in this.state ? this.state.terminated : undefined;
      if (!shouldRestart(restartPolicy, t?.exitCode ?? 1)) return;
      if (!(await this.#backOff(t))) return;
    }
  }

  /** Waits out the crash back-off (CrashLoopBackOff); false when the pod stopped meanwhile. */
  async #backOff(t: { finishedAt: string } | undefined): Promise<boolean> {
    const finished = t ? new Date(t.finishedAt).getTime() : Date.now();
    const delay = this.#backoff.restartDelay(finished, Date.now());
    this.lastState = this.state;
    if (delay > 0) {
      const p = this.#ctx.pod();
      const message = `back-off ${Math.round(delay / 1000)}s restarting failed container=${this.spec.name} pod=${p.metadata.name}_${p.metadata.namespace}(${p.metadata.uid})`;
      this.state = { waiting: { reason: 'CrashLoopBackOff', message } };
      this.#event(
        'Warning',
        'BackOff',
        `Back-off restarting failed container ${this.spec.name} in pod ${p.metadata.name}_${p.metadata.namespace}(${p.metadata.uid})`,
      );
      this.#ctx.changed();
      await sleep(delay, undefined, { signal: this.#stopping.signal }).catch(() => undefined);
    }
    if (this.#stopping.signal.aborted) return false;
    this.restartCount++;
    return true;
  }

  #startProbes(proc: ContainerProcess): void {
    this.#probes?.abort();
    const ctl = new AbortController();
    this.#probes = ctl;
    const { readinessProbe, livenessProbe, startupProbe } = this.spec;
    if (startupProbe) void this.#probeLoop('Startup', startupProbe, proc, ctl.signal);
    if (readinessProbe) void this.#probeLoop('Readiness', readinessProbe, proc, ctl.signal);
    else {
      // Without a readiness probe a container is ready once started (pkg/kubelet/prober results default).
      void this.#whenStarted(ctl.signal).then(() => {
        if (!ctl.signal.aborted && proc.running) {
          this.ready = true;
          this.#ctx.changed();
        }
      });
    }
    if (livenessProbe) void this.#probeLoop('Liveness', livenessProbe, proc, ctl.signal);
  }

  async #whenStarted(signal: AbortSignal): Promise<void> {
    while (!this.started && !signal.aborted) await sleep(200, undefined, { signal }).catch(() => undefined);
  }

  /**
   * One probe worker (pkg/kubelet/prober/worker.go): probes every periodSeconds once
   * initialDelaySeconds have passed since the container started; readiness and liveness wait for
   * the startup probe. Liveness and startup stop when the pod terminates, readiness keeps going.
   */
  async #probeLoop(
    kind: 'Readiness' | 'Liveness' | 'Startup',
    probe: Probe,
    proc: ContainerProcess,
    signal: AbortSignal,
  ): Promise<void> {
    const timing = probeTiming(probe);
    const thresholds = new ProbeThresholds(timing, kind !== 'Readiness');
    if (kind !== 'Startup') await this.#whenStarted(signal);
    const startedAt = proc.startedAt.getTime();
    const firstAt = startedAt + timing.initialDelaySeconds * 1000;
    if (Date.now() < firstAt) await sleep(firstAt - Date.now(), undefined, { signal }).catch(() => undefined);
    while (!signal.aborted && proc.running) {
      if (kind !== 'Readiness' && this.#stopping.signal.aborted) return;
      const r = await runProbeAction(probe, this.#target(), timing.timeoutSeconds * 1000);
      if (signal.aborted || !proc.running) return;
      if (!r.ok) this.#event('Warning', 'Unhealthy', `${kind} probe failed: ${r.message.trim()}`);
      const flipped = thresholds.record(r.ok);
      if (kind === 'Readiness' && flipped) {
        this.ready = thresholds.result;
        this.#ctx.changed();
      }
      if (kind === 'Startup' && thresholds.result && !this.started) {
        this.started = true;
        this.#ctx.changed();
        return; // the startup probe stops once it succeeded
      }
      if ((kind === 'Liveness' || kind === 'Startup') && !r.ok && !thresholds.result) {
        thresholds.resetCounts();
        const verb = kind === 'Liveness' ? 'liveness' : 'startup';
        void this.kill('probe', `Container ${this.spec.name} failed ${verb} probe, will be restarted`);
        return;
      }
      await sleep(timing.periodSeconds * 1000, undefined, { signal }).catch(() => undefined);
    }
  }

  /** The pod is terminating: no restarts from now on. */
  stop(): void {
    this.#stopping.abort();
    this.#markFirstStart();
  }

  /** Kubelet shutdown: SIGKILL the container's process group at once. */
  killGroupNow(): void {
    this.#process?.killGroup('SIGKILL');
  }

  /**
   * killContainer: grace, preStop bounded by grace, remaining grace >= 2 s, stop signal, SIGKILL
   * at the deadline. Resolves when the process is gone.
   */
  kill(reason: KillReason, message?: string): Promise<void> {
    if (this.#killing) return this.#killing;
    const proc = this.#process;
    if (!proc?.running) return Promise.resolve();
    this.#killing = this.#doKill(proc, reason, message).finally(() => {
      this.#killing = undefined;
    });
    return this.#killing;
  }

  async #doKill(proc: ContainerProcess, reason: KillReason, message?: string): Promise<void> {
    const p = this.#ctx.pod();
    const grace = gracePeriodSeconds(reason, {
      deletionGracePeriodSeconds: p.metadata.deletionGracePeriodSeconds,
      terminationGracePeriodSeconds: p.spec.terminationGracePeriodSeconds,
      probeTerminationGracePeriodSeconds:
        this.spec.livenessProbe?.terminationGracePeriodSeconds ??
        this.spec.startupProbe?.terminationGracePeriodSeconds,
    });
    this.#event('Normal', 'Killing', message ?? `Stopping container ${this.spec.name}`);
    const log = this.#ctx.log.child({ container: this.spec.name, pid: proc.pid });
    log.info({ reason, grace }, 'killing container');
    let hookElapsedMs: number | undefined;
    const preStop = this.spec.lifecycle?.preStop;
    if (preStop && runsPreStop(true, grace)) {
      const start = Date.now();
      const startMonotonic = performance.now();
      const hookDeadline = new Deadline(start + grace * 1000);
      this.#deadline = hookDeadline;
      const hook = runHook(preStop, this.#target(), grace * 1000).then((r) => {
        // The kubelet records the failure whenever the hook returns an error, even after abandoning it.
        if (!r.ok) this.#event('Warning', 'FailedPreStopHook', 'PreStopHook failed');
      });
      const overran = await Promise.race([
        hook.then(() => false),
        hookDeadline.reached.then(() => true),
        proc.exited.then(() => false),
      ]);
      hookDeadline.cancel();
      // the monotonic clock, as the kubelet's time.Since: wall-clock milliseconds truncate, and a
      // 2 s hook must not count as 1 s used
      hookElapsedMs = performance.now() - startMonotonic;
      if (overran) {
        log.warn({ grace }, 'PreStop hook not completed in grace period');
        this.#event(
          'Warning',
          'FailedPreStopHook',
          `PreStopHook did not complete within the grace period of ${grace}s`,
        );
      }
      log.info({ hookElapsedMs }, 'preStop hook done');
    }
    const window = stopWindowSeconds(grace, hookElapsedMs);
    const sig = stopSignal(this.spec.lifecycle?.stopSignal);
    if (proc.running) {
      log.info({ signal: sig, windowSeconds: window }, 'sending stop signal');
      proc.signal(sig);
      const killDeadline = new Deadline(Date.now() + window * 1000);
      // A shorter grace that arrived during the hook also bounds the stop window (never below 2 s).
      if (this.#shortenedTo !== undefined) {
        killDeadline.shortenTo(Math.max(this.#shortenedTo, Date.now() + MINIMUM_GRACE_PERIOD_SECONDS * 1000));
      }
      this.#deadline = killDeadline;
      const killed = await Promise.race([
        killDeadline.reached.then(() => true),
        proc.exited.then(() => false),
      ]);
      killDeadline.cancel();
      if (killed && proc.running) {
        log.info('grace period over, SIGKILL');
        proc.killGroup('SIGKILL');
      }
      await proc.exited;
    }
    this.#deadline = undefined;
  }

  /**
   * A later DELETE lowered the grace period: the running hook or stop window ends no later than
   * the new grace from now (at least 2 s once the stop signal is out).
   */
  shorten(graceSeconds: number): void {
    const at = Date.now() + Math.max(graceSeconds, MINIMUM_GRACE_PERIOD_SECONDS) * 1000;
    this.#shortenedTo = Math.min(this.#shortenedTo ?? at, at);
    this.#deadline?.shortenTo(at);
  }

  /** The container status as the API records it. */
  status(): Record<string, unknown> {
    return {
      name: this.spec.name,
      image: this.spec.image,
      imageID: `lastcall-image://${imageRepository(this.spec.image)}`,
      ...(this.#containerID ? { containerID: this.#containerID } : {}),
      ready: this.ready,
      started: 'running' in this.state ? this.started : false,
      restartCount: this.restartCount,
      state: this.state,
      lastState: this.lastState,
    };
  }

  exitCode(): number | undefined {
    return 'terminated' in this.state ? this.state.terminated.exitCode : undefined;
  }
}
