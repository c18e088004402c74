import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterNetwork } from '../network-plan.ts';
import type { Ports } from './component.ts';
import type { DaemonRecord, GroupRef } from './daemon.ts';

/**
 * What one state directory holds:
 *   cluster.json            ports, network, server, binDir, which components were asked for, ready
 *   pids.json               one DaemonRecord per started component
 *   kubeconfig              the admin kubeconfig (context `lastcall`)
 *   kubeconfigs/<id>.kubeconfig   one per component identity
 *   pki/                    CA, certificates, service-account key pair
 *   etcd/                   etcd's data
 *   logs/<component>.log
 *   kubelet/                the kubelet's own state; kubelet/pids/ lists pod process groups
 */
export interface ClusterState {
  version: 1;
  server: string;
  kubeconfig: string;
  binDir: string;
  ports: Ports;
  /**
   * The pod network and service range chosen for this state dir (network-plan.ts). Absent in
   * cluster.json files written before per-cluster networks: those clusters run on the defaults.
   */
  network?: ClusterNetwork;
  components: ComponentSet;
  /**
   * Seconds between an EndpointSlice change and the service proxy's routing change (absent: 0).
   * `up --endpoint-delay S` sets it, also on a running cluster (launcher.ts setEndpointDelay).
   */
  endpointDelaySeconds?: number;
  createdAt: string;
  /** Set once every asked-for component is healthy and the node (if any) is Ready. */
  readyAt?: string;
}

/** `control-plane`: etcd, kube-apiserver, kube-controller-manager, kube-scheduler. `all`: plus kubelet and proxy. */
export type ComponentSet = 'all' | 'control-plane';

export const statePaths = (stateDir: string) => ({
  cluster: join(stateDir, 'cluster.json'),
  pids: join(stateDir, 'pids.json'),
  kubeconfig: join(stateDir, 'kubeconfig'),
  kubeconfigs: join(stateDir, 'kubeconfigs'),
  pki: join(stateDir, 'pki'),
  logs: join(stateDir, 'logs'),
  kubeletPods: join(stateDir, 'kubelet', 'pids'),
  /** Beside the state dir, since `down` removes the state dir while holding it. */
  lock: join(dirname(stateDir), `.${basename(stateDir)}.lock`),
});

export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read ${file}: ${(error as Error).message}`);
  }
}

/** Replaces a JSON file atomically, so a reader never sees half of it. */
export async function writeJson(file: string, value: unknown): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(value, null, 2)}\n`);
  await rename(temporary, file);
}

/** pids.json, written after every start so `down` finds whatever `up` left, even if `up` died half-way. */
export class PidFile {
  readonly file: string;
  readonly records: Map<string, DaemonRecord>;
  #writing: Promise<void> = Promise.resolve();

  constructor(file: string, records: Record<string, DaemonRecord> = {}) {
    this.file = file;
    this.records = new Map(Object.entries(records));
  }

  static async load(file: string): Promise<PidFile> {
    return new PidFile(file, (await readJson<Record<string, DaemonRecord>>(file)) ?? {});
  }

  add(record: DaemonRecord): Promise<void> {
    this.records.set(record.name, record);
    // Components start in parallel; chain the writes so the last one wins with all records.
    this.#writing = this.#writing.then(() => writeJson(this.file, Object.fromEntries(this.records)));
    return this.#writing;
  }
}

/**
 * The pod process groups the kubelet recorded in <state>/kubelet/pids/: one
 * file per container process, named by its PID. The kubelet writes JSON
 * `{"pgid": N, "owner": "ns/pod/container"}` (the PID is also the process
 * group: containers start detached); plain text with the PID, or JSON with
 * `pid` and `startTime`, are read too, and the file name is the fallback.
 */
export async function kubeletPodGroups(stateDir: string): Promise<GroupRef[]> {
  const dir = statePaths(stateDir).kubeletPods;
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  const groups: GroupRef[] = [];
  for (const entry of entries) {
    let text = '';
    try {
      text = (await readFile(join(dir, entry), 'utf8')).trim();
    } catch {
      continue; // removed by the kubelet while we read
    }
    const group = parsePodGroup(entry, text);
    if (group !== undefined) groups.push(group);
  }
  return groups;
}

export function parsePodGroup(fileName: string, text: string): GroupRef | undefined {
  const name = `pod process ${fileName}`;
  if (text.startsWith('{')) {
    try {
      const value = JSON.parse(text) as {
        pid?: unknown;
        pgid?: unknown;
        startTime?: unknown;
        owner?: unknown;
      };
      const pgid = Number(value.pgid ?? value.pid);
      if (Number.isInteger(pgid) && pgid > 1) {
        return {
          name: typeof value.owner === 'string' ? `${name} (${value.owner})` : name,
          pgid,
          ...(typeof value.startTime === 'string' ? { startTime: value.startTime } : {}),
        };
      }
    } catch {
      // fall through to the other forms
    }
  }
  const fromText = /^\d+$/.test(text) ? Number(text) : undefined;
  const fromName = /^\d+$/.test(fileName.replace(/\.pid$/, ''))
    ? Number(fileName.replace(/\.pid$/, ''))
    : undefined;
  const pgid = fromText ?? fromName;
  return pgid !== undefined && pgid > 1 ? { name, pgid } : undefined;
}

/**
 * Serialises up/down on one state dir (and allocations in the network registry) across processes
 * (two test runs sharing .lastcall/test-cluster, a CLI `down` during a test run's `up`). The lock
 * file holds the owner's PID; a lock whose owner is gone is taken over.
 *
 * Why it is built this way: the lock is created with its PID already inside (written to a private
 * file, then hard-linked into place, which fails if the lock exists), so no contender ever reads an
 * empty lock and mistakes it for a stale one; an earlier open('wx') + write left that window, and
 * six concurrent allocations once handed out the same network twice. Taking over a dead owner's
 * lock happens under a second, short-lived lock, and only if the lock still names that owner, so
 * two contenders cannot both remove it and one remove the other's fresh lock.
 */
export async function withLock<T>(
  stateDir: string,
  onWait: (owner: number) => void,
  work: () => Promise<T>,
): Promise<T> {
  const lock = statePaths(stateDir).lock;
  await mkdir(dirname(lock), { recursive: true });
  const me = String(process.pid);
  let reported = false;
  for (;;) {
    if (await createWithContent(lock, me)) break;
    const content = await readFile(lock, 'utf8').catch(() => undefined);
    if (content === undefined) continue; // released between the two calls: try again at once
    const owner = Number(content.trim());
    if (!isLivePid(owner)) {
      await takeOverStale(lock, content, me);
      continue;
    }
    if (!reported) {
      onWait(owner);
      reported = true;
    }
    await sleep(250);
  }
  try {
    return await work();
  } finally {
    await rm(lock, { force: true });
  }
}

function isLivePid(pid: number): boolean {
  return Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${pid}`);
}

/** Creates `file` holding `content`, atomically; false if it already exists. */
async function createWithContent(file: string, content: string): Promise<boolean> {
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(temporary, content);
  try {
    await link(temporary, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await rm(temporary, { force: true });
  }
}

/** Removes `lock` if it still holds `staleContent`, under a takeover guard; else leaves it. */
async function takeOverStale(lock: string, staleContent: string, me: string): Promise<void> {
  const guard = `${lock}.takeover`;
  if (!(await createWithContent(guard, me))) {
    // Another contender is taking over; clear its guard only if it died doing so.
    const holder = Number((await readFile(guard, 'utf8').catch(() => '')).trim());
    if (!isLivePid(holder)) await rm(guard, { force: true });
    else await sleep(50);
    return;
  }
  try {
    const now = await readFile(lock, 'utf8').catch(() => undefined);
    if (now === staleContent) await rm(lock, { force: true });
  } finally {
    await rm(guard, { force: true });
  }
}
