// Shared helpers for the workload tests: a real redis-server on a free loopback port, the workload
// as a real child process (real signals), a TCP proxy that can lose a Redis reply, and polling.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { freePorts } from '../../cluster/ports.ts';
import { waitFor } from '../../kube/poll.ts';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/**
 * A free TCP port on 127.0.0.1, released before use. Not one from listen(0): that is an ephemeral
 * port, which any outgoing connection on the machine may take before redis-server binds it (or
 * binds it again after a restart). ports.ts picks below the ephemeral range.
 */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no free port');
  return port;
}

export interface RedisHandle {
  port: number;
  url: string;
  /** A client of the test's own, for reading the counter. */
  client: Redis;
  /** Kills redis-server with SIGKILL (no goodbye) and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts redis-server again on the same port and data directory. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts a real redis-server on a free loopback port. With `durable`, every write is fsynced to an
 * append-only file first, so a SIGKILL and restart loses nothing (as a Redis with a volume would):
 * a test that restarts Redis checks the workload, not Redis' own durability.
 */
export async function startRedis({
  durable = false,
  prefix = [],
  password,
}: {
  durable?: boolean;
  /** Makes Redis require this password (requirepass); the test's own client uses it. */
  password?: string;
  /** A command to run redis-server under, e.g. `['taskset', '-c', '1']` (the benchmark pins CPUs). */
  prefix?: string[];
} = {}): Promise<RedisHandle> {
  let port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'lastcall-redis-'));
  let proc: ChildProcess | undefined;
  const args = () => [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--dir',
    dir,
    '--appendonly',
    durable ? 'yes' : 'no',
    '--appendfsync',
    'always',
    ...(password === undefined ? [] : ['--requirepass', password]),
  ];
  const start = async (): Promise<void> => {
    const [command, ...rest] = [...prefix, REDIS_SERVER, ...args()];
    proc = spawn(command ?? REDIS_SERVER, rest, { stdio: 'ignore' });
    const started = proc;
    const outcome = await waitFor(
      `redis-server on port ${port}`,
      async () => {
        if (started.exitCode !== null) return 'exited';
        // With requirepass, an unauthenticated PING answers NOAUTH: the server is up all the same.
        return /^(PONG|-NOAUTH)/.test(await pingOnce(port)) && 'up';
      },
      { intervalMs: 20 },
    ).catch(async (error: unknown) => {
      await kill(); // not left running after a failed start
      throw error;
    });
    if (outcome === 'exited') throw new RedisExitedError(port, started.exitCode ?? -1);
  };
  const kill = async (): Promise<void> => {
    const running = proc;
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((r) => running.once('exit', r));
    running.kill('SIGKILL');
    await exited;
  };
  // Another process may still bind the chosen port before redis-server does (it then exits at
  // once): the first start picks another port. A restart keeps its port (clients know it).
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (error) {
      if (!(error instanceof RedisExitedError) || attempt === 5) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
      port = await freePort();
    }
  }
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 50,
    ...(password === undefined ? {} : { password }),
  });
  client.on('error', () => {});
  await client.connect();
  return {
    port,
    url,
    client,
    kill,
    start,
    async stop() {
      client.disconnect();
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

class RedisExitedError extends Error {
  constructor(port: number, code: number) {
    super(`redis-server on port ${port} exited with ${code} while starting`);
  }
}

/** One PING on a fresh connection (no client state to reset between restarts). */
function pingOnce(port: number): Promise<string> {
  return new Promise((resolvePing, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(500, () => socket.destroy(new Error('ping timed out')));
    socket.once('error', reject);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolvePing(data.toString().trim().replace(/^\+/, ''));
    });
  });
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface WorkloadHandle {
  proc: ChildProcess;
  /** Port the workload listens on (read from its "started" log line). */
  port: number;
  baseUrl: string;
  terminationMessagePath: string;
  logs: LogLine[];
  /** Everything the process wrote that was not a JSON log line. */
  rawOutput: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForLog(msg: string | ((line: LogLine) => boolean), timeoutMs?: number): Promise<LogLine>;
  terminationMessage(): Record<string, unknown>;
  signal(signal: NodeJS.Signals): void;
}

const running = new Set<ChildProcess>();
const scratchDirs = new Set<string>();

/** Spawns `node workload/main.ts` with a clean environment plus `env`; resolves once it is listening. */
export async function spawnWorkload(env: Record<string, string>): Promise<WorkloadHandle> {
  const handle = spawnWorkloadProcess(env);
  const started = await handle.waitForLog('started');
  const port = Number(started.port);
  return { ...handle, port, baseUrl: `http://127.0.0.1:${port}` };
}

/** Waits until the workload's /readyz answers 200 (it reached Redis and is not draining). */
export async function waitUntilReady(workload: Pick<WorkloadHandle, 'baseUrl'>): Promise<void> {
  await waitFor('readiness', async () => (await fetch(`${workload.baseUrl}/readyz`)).status === 200, {
    timeoutMs: 30_000,
    intervalMs: 20,
  });
}

/** Spawns the workload without waiting for it to start (for configuration errors). */
export function spawnWorkloadProcess(env: Record<string, string>): Omit<WorkloadHandle, 'port' | 'baseUrl'> {
  const dir = mkdtempSync(join(tmpdir(), 'lastcall-workload-'));
  scratchDirs.add(dir);
  const terminationMessagePath = join(dir, 'termination-log');
  const proc = spawn(process.execPath, [join(REPO_ROOT, 'workload/main.ts')], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      TERMINATION_MESSAGE_PATH: terminationMessagePath,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  const logs: LogLine[] = [];
  const rawOutput: string[] = [];
  const collect = (stream: NodeJS.ReadableStream): void => {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (line === '') continue;
        try {
          logs.push(JSON.parse(line) as LogLine);
        } catch {
          rawOutput.push(line);
        }
      }
    });
  };
  if (proc.stdout) collect(proc.stdout);
  if (proc.stderr) collect(proc.stderr);
  // 'close', not 'exit': 'exit' may come while the last log lines (the summary, "exit") are still in
  // the stdout pipe; 'close' comes once both streams ended, so `logs` is complete when this resolves.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.once('close', (code, signal) => {
      running.delete(proc);
      r({ code, signal });
    }),
  );
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });
  const waitForLog = (msg: string | ((line: LogLine) => boolean), timeoutMs = 30_000): Promise<LogLine> => {
    const match = typeof msg === 'string' ? (line: LogLine) => line.msg === msg : msg;
    return waitFor(
      `log line ${typeof msg === 'string' ? JSON.stringify(msg) : msg.toString()}`,
      () => {
        const found = logs.find(match);
        if (found) return found;
        if (hasExited) {
          throw new Error(
            `workload exited; output:\n${[...logs.map((l) => JSON.stringify(l)), ...rawOutput].join('\n')}`,
          );
        }
        return undefined;
      },
      { timeoutMs, intervalMs: 10 },
    );
  };
  return {
    proc,
    terminationMessagePath,
    logs,
    rawOutput,
    exited,
    waitForLog,
    terminationMessage: () =>
      JSON.parse(readFileSync(terminationMessagePath, 'utf8')) as Record<string, unknown>,
    signal: (signal) => {
      proc.kill(signal);
    },
  };
}

/** SIGKILLs every workload still running and removes their scratch dirs (afterEach): nothing left behind. */
export async function killAllWorkloads(): Promise<void> {
  await Promise.all(
    [...running].map(
      (proc) =>
        new Promise<void>((r) => {
          if (proc.exitCode !== null || proc.signalCode !== null) return r();
          proc.once('exit', () => r());
          proc.kill('SIGKILL');
        }),
    ),
  );
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
  scratchDirs.clear();
}

/** Sends `count` GET /incr requests, `concurrency` at a time; returns the ids the workload answered. */
export async function sendIncrements(baseUrl: string, count: number, concurrency = 10): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      const response = await fetch(`${baseUrl}/incr`);
      if (response.status !== 200) throw new Error(`/incr answered ${response.status}`);
      const body = (await response.json()) as { id: string };
      ids.push(body.id);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return ids;
}

export async function readCounter(redis: RedisHandle, key = 'counter'): Promise<number> {
  const raw = await redis.client.get(key);
  return raw === null ? 0 : Number(raw);
}

/**
 * A TCP proxy in front of Redis that can lose or delay replies. Once armed, a client->Redis chunk
 * containing `trigger` is forwarded to Redis (which applies the command), and then:
 * - 'cut': the reply to it is swallowed and both sockets are cut. The client never learns that
 *   Redis applied the command: exactly the case where ioredis re-sends an unanswered command after
 *   reconnecting, or the workload retries the batch.
 * - 'delay': the reply (and everything after it on that connection, to keep the order) is held
 *   for `delayMs`, longer than the client's command timeout: the client gives up on the command
 *   and retries it while the first copy has been applied already. (TCP never drops bytes inside a
 *   live connection, so a reply is either late or lost with its connection.)
 * `times` arms it for that many commands in a row.
 */
export interface LossyProxy {
  port: number;
  url: string;
  arm(trigger: string, options?: { mode?: 'cut' | 'delay'; delayMs?: number; times?: number }): void;
  /** How many replies were swallowed or delayed so far. */
  readonly lostReplies: number;
  close(): Promise<void>;
}

export async function startLossyProxy(targetPort: number): Promise<LossyProxy> {
  let armed: { trigger: string; mode: 'cut' | 'delay'; delayMs: number; times: number } | undefined;
  let lostReplies = 0;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    let swallowNextReply = false;
    let held: Buffer[] | undefined;
    const cut = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      if (armed !== undefined && chunk.toString('latin1').toLowerCase().includes(armed.trigger)) {
        const { mode, delayMs } = armed;
        if (--armed.times === 0) armed = undefined;
        lostReplies++;
        if (mode === 'cut') swallowNextReply = true;
        else if (held === undefined) {
          held = [];
          const timer = setTimeout(() => {
            timers.delete(timer);
            for (const part of held ?? []) client.write(part);
            held = undefined;
          }, delayMs);
          timers.add(timer);
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (swallowNextReply) {
        cut();
        return;
      }
      if (held !== undefined) held.push(chunk);
      else client.write(chunk);
    });
    for (const socket of [client, upstream]) {
      socket.on('error', cut);
      socket.on('close', () => {
        sockets.delete(socket);
        cut();
      });
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    url: `redis://127.0.0.1:${address.port}`,
    arm(trigger, { mode = 'cut', delayMs = 0, times = 1 } = {}) {
      armed = { trigger: trigger.toLowerCase(), mode, delayMs, times };
    },
    get lostReplies() {
      return lostReplies;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A raw HTTP/1.1 connection: keep-alive by default, and we see every header and the close. */
export function rawConnection(
  port: number,
): Promise<{ socket: Socket; received: () => string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
    });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('error', reject);
    socket.once('connect', () => resolve({ socket, received: () => data, closed }));
  });
}

/** Whether a TCP connect to 127.0.0.1:`port` is refused (the listener has closed). */
export function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}
