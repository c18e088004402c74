import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../kube/poll.ts';
import { REPO_ROOT } from '../../test/workload/support.ts';

/** One service under test, running as a child process. */
export interface Service {
  name: string;
  pid: number;
  baseUrl: string;
  /** Increments accepted and not yet applied, as the service itself reports them. */
  pending(): Promise<number>;
  /** CPU time the process used so far (user + system), from /proc (seconds). */
  cpuSeconds(): number;
  /** Resident set size and its peak, from /proc (MB). */
  memory(): { rssMb: number; peakRssMb: number };
  /** Sends SIGTERM; resolves with performance.now() at the exit and the exit code. */
  terminate(): Promise<{ signalledAt: number; exitedAt: number; code: number | null }>;
  kill(): void;
}

export interface ServiceSpec {
  name: string;
  command: string[];
  env: Record<string, string>;
  pendingFrom: (baseUrl: string) => Promise<number>;
}

export function nodeSpec(): Omit<ServiceSpec, 'env'> {
  return {
    name: 'node (lastcall workload)',
    command: [process.execPath, join(REPO_ROOT, 'workload/main.ts')],
    pendingFrom: async (baseUrl) => {
      const text = await getText(`${baseUrl}/metrics`);
      const match = /^lastcall_workload_pending_increments (\d+)$/m.exec(text);
      if (!match) throw new Error('no pending gauge in /metrics');
      return Number(match[1]);
    },
  };
}

export function goSpec(binary: string): Omit<ServiceSpec, 'env'> {
  return {
    name: 'go reference',
    command: [binary],
    pendingFrom: async (baseUrl) =>
      (JSON.parse(await getText(`${baseUrl}/pending`)) as { pending: number }).pending,
  };
}

export async function startService(spec: ServiceSpec, prefix: string[]): Promise<Service> {
  const scratch = mkdtempSync(join(tmpdir(), 'lastcall-bench-'));
  const [command, ...args] = [...prefix, ...spec.command];
  const proc: ChildProcess = spawn(command ?? '', args, {
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      TERMINATION_MESSAGE_PATH: join(scratch, 'termination-log'),
      ...spec.env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  proc.stdout?.setEncoding('utf8');
  proc.stdout?.on('data', (chunk: string) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  let exitedAt = 0;
  void exited.then(() => {
    exitedAt = performance.now();
    rmSync(scratch, { recursive: true, force: true });
  });
  const port = await waitFor(
    `${spec.name} to start`,
    () => {
      if (proc.exitCode !== null) throw new Error(`${spec.name} exited: ${output}`);
      const started = output
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg?: string; port?: number })
        .find((l) => l.msg === 'started');
      return started?.port;
    },
    { timeoutMs: 10_000, intervalMs: 20 },
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  const pid = proc.pid ?? 0;
  return {
    name: spec.name,
    pid,
    baseUrl,
    pending: () => spec.pendingFrom(baseUrl),
    cpuSeconds: () => {
      // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
    },
    memory: () => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (field: string): number =>
        Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
      return { rssMb: kb('VmRSS') / 1024, peakRssMb: kb('VmHWM') / 1024 };
    },
    async terminate() {
      const signalledAt = performance.now();
      proc.kill('SIGTERM');
      const code = await exited;
      return { signalledAt, exitedAt, code };
    },
    kill: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on every Linux architecture in use. */
const CLOCK_TICKS_PER_SECOND = 100;

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode}`)),
      );
    }).on('error', reject);
  });
}

/**
 * Sends exactly `count` GET /incr, `concurrency` at a time over keep-alive connections; resolves
 * with performance.now() when the last answer arrived (the last increment was accepted before).
 */
export async function sendExactly(baseUrl: string, count: number, concurrency: number): Promise<number> {
  let sent = 0;
  let lastAnswerAt = 0;
  const worker = async (): Promise<void> => {
    while (sent < count) {
      sent++;
      await getText(`${baseUrl}/incr`);
      lastAnswerAt = performance.now();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return lastAnswerAt;
}

export function closeClient(): void {
  agent.destroy();
}
