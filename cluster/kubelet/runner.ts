import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Starts a container as a local process: its own process group (a stand-in for the container's PID
 * namespace: the group is what gets killed when the main process dies) and its own mount namespace
 * (`unshare -m --propagation private`, so bind mounts never leak to the host), inside which the
 * pod's files are bind-mounted over /etc/hosts, the service-account directory and the termination
 * message path. `unshare` execs `sh`, `sh` execs the command, so the PID we hold is the container's
 * main process and receives signals itself.
 */
export interface BindMount {
  source: string;
  target: string;
  readOnly?: boolean;
  /** The mount point is a directory (else a file). */
  directory?: boolean;
}

interface ContainerLaunch {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  logFile: string;
  mounts: BindMount[];
  /** <state-dir>/pids: one file per live process, for `down` after a crash. */
  pidDir: string;
  owner: string;
  /** argv prefix that drops privileges right before the command (setpriv ...). */
  privileges: string[];
  /** securityContext.readOnlyRootFilesystem: the namespace's view of / is remounted read-only. */
  readOnlyRoot: boolean;
}

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: Date;
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The mount-namespace prelude: bind each mount (read-only ones remounted ro), make / read-only when
 * asked (the bind mounts stay writable: they are mounts of their own), then exec the container
 * command ("$@"), which may start with the setpriv prefix.
 */
export function mountScript(mounts: BindMount[], readOnlyRoot: boolean): string {
  const lines = ['set -e'];
  for (const m of mounts) {
    lines.push(`mount --bind ${shQuote(m.source)} ${shQuote(m.target)}`);
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${shQuote(m.target)}`);
  }
  if (readOnlyRoot) lines.push('mount -o remount,bind,ro /');
  lines.push('exec "$@"');
  return lines.join('\n');
}

export class ContainerProcess {
  readonly pid: number;
  readonly startedAt: Date;
  readonly exited: Promise<ExitInfo>;
  readonly #child: ChildProcess;
  readonly #pidFile: string;
  #done = false;

  constructor(launch: ContainerLaunch) {
    mkdirSync(launch.pidDir, { recursive: true });
    const log = openSync(launch.logFile, 'a');
    try {
      this.#child = spawn(
        'unshare',
        [
          '-m',
          '--propagation',
          'private',
          '--',
          'sh',
          '-c',
          mountScript(launch.mounts, launch.readOnlyRoot),
          'sh',
          ...launch.privileges,
          ...launch.argv,
        ],
        { cwd: launch.cwd, env: launch.env, detached: true, stdio: ['ignore', log, log] },
      );
    } finally {
      closeSync(log);
    }
    this.startedAt = new Date();
    if (this.#child.pid === undefined) {
      // spawn failures (ENOENT for unshare) surface as an 'error' event; report as exit 127.
      this.pid = -1;
      this.#pidFile = '';
      this.exited = new Promise((resolve) => {
        this.#child.once('error', () => resolve({ code: 127, signal: null, at: new Date() }));
      });
      return;
    }
    this.pid = this.#child.pid;
    this.#pidFile = join(launch.pidDir, String(this.pid));
    writeFileSync(this.#pidFile, `${JSON.stringify({ pgid: this.pid, owner: launch.owner })}\n`);
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#done = true;
        // The main process is gone: like a PID namespace teardown, nothing else of the group survives.
        this.killGroup('SIGKILL');
        rmSync(this.#pidFile, { force: true });
        resolve({ code, signal, at: new Date() });
      });
    });
  }

  get running(): boolean {
    return !this.#done && this.pid > 0;
  }

  /** The stop signal goes to the main process only, as a runtime's StopContainer does. */
  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      // already gone
    }
  }

  killGroup(sig: NodeJS.Signals): void {
    if (this.pid <= 0) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      // no such group
    }
  }
}

/**
 * Runs a command inside a running container's mount namespace (exec probes and exec hooks, like
 * `crictl exec`), bounded by timeoutMs. Resolves with the exit code and the combined output.
 */
export function execInContainer(
  targetPid: number,
  argv: string[],
  privileges: string[],
  env: Record<string, string>,
  timeoutMs: number,
  pidDir: string,
  owner: string,
): Promise<{ code: number; output: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn('nsenter', [`--mount=/proc/${targetPid}/ns/mnt`, '--', ...privileges, ...argv], {
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const collect = (d: Buffer) => {
      if (output.length < 10_000) output += d.toString('utf8');
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const pidFile = child.pid ? join(pidDir, String(child.pid)) : '';
    if (pidFile) writeFileSync(pidFile, `${JSON.stringify({ pgid: child.pid, owner: `${owner} (exec)` })}\n`);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {}
      }
    }, timeoutMs);
    const finish = (code: number) => {
      clearTimeout(timer);
      if (pidFile) rmSync(pidFile, { force: true });
      resolve({ code, output, timedOut });
    };
    child.once('error', (err) => {
      output += String(err);
      finish(126);
    });
    child.once('close', (code, signal) => finish(code ?? (signal ? 137 : 1)));
  });
}
