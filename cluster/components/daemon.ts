import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { open, readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** How a component is started: the launcher's component modules build these. */
export interface DaemonSpec {
  name: string;
  command: string;
  args: string[];
  /** Added to the launcher's environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** Where the component answers when it is healthy, shown by `status`. */
  endpoint: string;
}

/** What pids.json records about a started component. */
export interface DaemonRecord {
  name: string;
  pid: number;
  /**
   * The process start time (clock ticks since boot, /proc/<pid>/stat field
   * 22). A PID alone may be reused after a reboot or a long time; the pair
   * (pid, startTime) names one process.
   */
  startTime: string;
  log: string;
  endpoint: string;
  command: string[];
}

export interface Daemon {
  record: DaemonRecord;
  /** Present only in the process that spawned it. */
  child: ChildProcess;
}

/**
 * Starts a component detached in its own session and process group (setsid),
 * so it outlives the launcher (`npm run cluster -- up` returns) and `down` can
 * signal the whole group, including anything it forked. stdout and stderr go
 * to its log file.
 */
export async function startDaemon(spec: DaemonSpec, log: string): Promise<Daemon> {
  const fd = openSync(log, 'a');
  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
    });
  } finally {
    closeSync(fd);
  }
  const spawnError = await new Promise<Error | undefined>((resolve) => {
    child.once('error', resolve);
    child.once('spawn', () => resolve(undefined));
  });
  if (spawnError !== undefined || child.pid === undefined) {
    throw new Error(`could not start ${spec.name} (${spec.command}): ${spawnError?.message ?? 'no pid'}`);
  }
  // The launcher must not wait for its daemons before exiting.
  child.unref();
  const startTime = (await readStat(child.pid))?.startTime ?? '';
  return {
    child,
    record: {
      name: spec.name,
      pid: child.pid,
      startTime,
      log,
      endpoint: spec.endpoint,
      command: [spec.command, ...spec.args],
    },
  };
}

interface ProcStat {
  state: string;
  pgrp: number;
  startTime: string;
}

/** Fields of /proc/<pid>/stat, or undefined when there is no such process. */
async function readStat(pid: number): Promise<ProcStat | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), fields[2] field 5 (pgrp), fields[19] field 22 (starttime).
  return { state: fields[0] ?? '?', pgrp: Number(fields[2]), startTime: fields[19] ?? '' };
}

/** True while the recorded process runs (a zombie has exited: it only waits to be reaped). */
export async function isAlive(record: Pick<DaemonRecord, 'pid' | 'startTime'>): Promise<boolean> {
  const stat = await readStat(record.pid);
  if (stat === undefined || stat.state === 'Z' || stat.state === 'X') return false;
  return record.startTime === '' || stat.startTime === record.startTime;
}

/**
 * The process groups that have a live member. While any member lives the
 * kernel does not hand that group's number out as a new PID, so members found
 * here belong to the group the launcher (or the kubelet) created.
 */
export async function liveProcessGroups(): Promise<Set<number>> {
  const groups = new Set<number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readStat(Number(entry));
    if (stat !== undefined && stat.state !== 'Z' && stat.state !== 'X') groups.add(stat.pgrp);
  }
  return groups;
}

/** A process group to stop; `startTime` (when known) guards against signalling a reused PID. */
export interface GroupRef {
  name: string;
  pgid: number;
  startTime?: string;
}

/**
 * Stops process groups: SIGTERM to each group, then SIGKILL to whatever is
 * left after `graceMs`, and waits until no member is left. Returns the names
 * of groups that had to be killed. A group whose leader PID now belongs to a
 * different process (start time differs) is left alone.
 */
export async function stopGroups(groups: GroupRef[], graceMs: number): Promise<string[]> {
  const ours: GroupRef[] = [];
  for (const group of groups) {
    const leader = await readStat(group.pgid);
    const reused =
      leader !== undefined &&
      group.startTime !== undefined &&
      group.startTime !== '' &&
      leader.startTime !== group.startTime;
    if (!reused) ours.push(group);
  }
  for (const group of ours) signalGroup(group.pgid, 'SIGTERM');
  let remaining = await groupsWithMembers(ours);
  const deadline = Date.now() + graceMs;
  while (remaining.length > 0 && Date.now() < deadline) {
    await sleep(100);
    remaining = await groupsWithMembers(remaining);
  }
  const killed = remaining.map((group) => group.name);
  for (const group of remaining) signalGroup(group.pgid, 'SIGKILL');
  const killDeadline = Date.now() + 10_000;
  while (remaining.length > 0) {
    if (Date.now() > killDeadline) {
      const left = remaining.map((group) => `${group.name} (process group ${group.pgid})`).join(', ');
      throw new Error(`still running 10 s after SIGKILL: ${left}`);
    }
    await sleep(50);
    remaining = await groupsWithMembers(remaining);
  }
  return killed;
}

async function groupsWithMembers(groups: GroupRef[]): Promise<GroupRef[]> {
  const live = await liveProcessGroups();
  return groups.filter((group) => live.has(group.pgid));
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    // A negative PID signals the whole process group (kill(2)).
    process.kill(-pgid, signal);
  } catch (error) {
    // ESRCH: already gone. Anything else (EPERM) is worth knowing.
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Resident memory of a process in bytes (VmRSS), or undefined when it is gone. */
export async function residentBytes(pid: number): Promise<number | undefined> {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** The last `lines` lines of a log file, for crash reports. */
export async function logTail(file: string, lines = 20): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(file, 'r');
    const { size } = await handle.stat();
    const length = Math.min(size, 16_384);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    return buffer
      .toString('utf8')
      .split('\n')
      .filter((line) => line !== '')
      .slice(-lines)
      .join('\n');
  } catch {
    return '(no log)';
  } finally {
    await handle?.close();
  }
}

/** Whether a daemon spawned by this process has exited, and how. */
export function exitDescription(child: ChildProcess): string | undefined {
  if (child.exitCode !== null) return `exited with code ${child.exitCode}`;
  if (child.signalCode !== null) return `was killed by ${child.signalCode}`;
  return undefined;
}
