import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import type { Logger } from 'pino';
import type { KubeClient } from '../../kube/client.ts';
import { coreTypes, resourcePath } from '../../kube/resources.ts';

/**
 * The files a pod's containers see through bind mounts, kept under <state-dir>/pods/<uid>:
 *   hosts                     -> /etc/hosts
 *   serviceaccount/           -> /var/run/secrets/kubernetes.io/serviceaccount (token, ca.crt, namespace)
 *   <container>/termination-log -> the container's terminationMessagePath
 *   <container>/<restart>.log   the container's stdout+stderr
 */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
export const DEFAULT_TERMINATION_MESSAGE_PATH = '/dev/termination-log';

export class PodDir {
  readonly root: string;
  constructor(stateDir: string, uid: string) {
    this.root = join(stateDir, 'pods', uid);
    mkdirSync(this.root, { recursive: true });
  }
  get hosts(): string {
    return join(this.root, 'hosts');
  }
  get serviceAccount(): string {
    return join(this.root, 'serviceaccount');
  }
  containerDir(name: string): string {
    const dir = join(this.root, 'containers', name);
    mkdirSync(dir, { recursive: true });
    return dir;
  }
  terminationLog(name: string): string {
    return join(this.containerDir(name), 'termination-log');
  }
  logFile(name: string, restartCount: number): string {
    return join(this.containerDir(name), `${restartCount}.log`);
  }
  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  /**
   * Keeps the container logs of a removed pod under <state-dir>/terminated/<ns>_<pod>_<uid>/
   * (<container>-<restart>.log), the newest ARCHIVED_PODS pods only: after a test or an experiment
   * the logs of deleted pods are still there to read.
   */
  archiveLogs(stateDir: string, namespace: string, name: string): void {
    const containers = join(this.root, 'containers');
    if (!existsSync(containers)) return;
    const target = join(stateDir, 'terminated', `${namespace}_${name}_${basename(this.root)}`);
    mkdirSync(target, { recursive: true });
    for (const c of readdirSync(containers)) {
      for (const f of readdirSync(join(containers, c))) {
        if (f.endsWith('.log')) renameSync(join(containers, c, f), join(target, `${c}-${f}`));
      }
    }
    const archive = join(stateDir, 'terminated');
    const pods = readdirSync(archive)
      .map((d) => ({ d, t: statSync(join(archive, d)).mtimeMs }))
      .sort((a, b) => b.t - a.t);
    for (const old of pods.slice(ARCHIVED_PODS))
      rmSync(join(archive, old.d), { recursive: true, force: true });
  }
}

const ARCHIVED_PODS = 100;

/** Replaces a file atomically (rename in the same directory; the directory is what is bind-mounted). */
function writeAtomic(file: string, content: string, mode = 0o644): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, file);
}

/**
 * A bound service-account token from the TokenRequest API (audience = the API server's default,
 * bound to the pod so it dies with it), refreshed at 80 % of its lifetime like the kubelet's
 * token manager.
 */
export class ServiceAccountToken {
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #api: KubeClient;
  readonly #log: Logger;
  readonly #dir: string;
  readonly #pod: { name: string; namespace: string; uid: string; serviceAccountName: string };
  readonly #expirationSeconds: number;

  constructor(
    api: KubeClient,
    log: Logger,
    dir: string,
    pod: { name: string; namespace: string; uid: string; serviceAccountName: string },
    caFile: string,
    expirationSeconds = 3607,
  ) {
    this.#api = api;
    this.#log = log;
    this.#dir = dir;
    this.#pod = pod;
    this.#expirationSeconds = Math.max(expirationSeconds, 600);
    mkdirSync(dir, { recursive: true });
    writeAtomic(join(dir, 'ca.crt'), readFileSync(caFile, 'utf8'));
    writeAtomic(join(dir, 'namespace'), pod.namespace);
  }

  async start(): Promise<void> {
    await this.#refresh();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  async #refresh(): Promise<void> {
    if (this.#stopped) return;
    const { namespace, serviceAccountName, name, uid } = this.#pod;
    const res = await this.#api.request<{ status: { token: string; expirationTimestamp: string } }>(
      'POST',
      resourcePath(coreTypes.serviceAccount, { namespace, name: serviceAccountName, subresource: 'token' }),
      {
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: {
            audiences: [],
            expirationSeconds: this.#expirationSeconds,
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name, uid },
          },
        },
      },
    );
    // 0644 like the kube-api-access projected volume's defaultMode: any container user reads it.
    writeAtomic(join(this.#dir, 'token'), res.status.token, 0o644);
    const ttlMs = new Date(res.status.expirationTimestamp).getTime() - Date.now();
    this.#schedule(Math.max(Math.floor(ttlMs * 0.8), 30_000));
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#refresh().catch((err) => {
        this.#log.warn(
          { pod: `${this.#pod.namespace}/${this.#pod.name}`, err: String(err) },
          'token refresh failed',
        );
        this.#schedule(10_000);
      });
    }, ms);
    this.#timer.unref();
  }
}
