// npm run bench:workload: throughput, latency, memory and drain overhead of the workload against a
// real Redis, next to the seed article's graceful service rewritten in Go (bench/go-reference),
// in the same run. One core each: the service is pinned to CPU 0 (GOMAXPROCS=1 for Go, one Node
// process), wrk, Redis and this script to CPU 1. Not part of npm test.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../../kube/poll.ts';
import { REPO_ROOT, type RedisHandle, readCounter, startRedis } from '../../test/workload/support.ts';
import { measureRedisMemory, type RedisMemoryFigures } from './redis-memory.ts';
import {
  closeClient,
  goSpec,
  nodeSpec,
  type Service,
  type ServiceSpec,
  sendExactly,
  startService,
} from './services.ts';
import { hasWrk, runWrk, type WrkResult } from './wrk.ts';

const run = promisify(execFile);
const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const CONNECTIONS = env('BENCH_CONNECTIONS', 64);
const WARMUP_SECONDS = env('BENCH_WARMUP_SECONDS', 3);
const MEASURE_SECONDS = env('BENCH_SECONDS', 4);
const ROUNDS = env('BENCH_ROUNDS', 5);
const PENDING = env('BENCH_PENDING', 50_000);
/** The article's 5 s of "business logic" for the throughput run. */
const THROUGHPUT_WORK_DELAY_MS = 5000;
/** Long enough that all 50,000 requests are answered before the first increment falls due. */
const PENDING_WORK_DELAY_MS = env('BENCH_PENDING_WORK_DELAY_MS', 20_000);
/** How long wrk drives the workload for the Redis memory figures (about 25,000 increments/s here). */
const REDIS_MEMORY_SECONDS = env('BENCH_REDIS_SECONDS', 20);
/** `--redis-memory`: only the Redis memory figures (no Go build, no throughput turns). */
const ONLY_REDIS_MEMORY = process.argv.includes('--redis-memory');

type Figures = { service: string } & ThroughputFigures & MemoryAndDrain;

async function main(): Promise<void> {
  if (!(await hasWrk())) {
    throw new Error('wrk is not installed: apt-get install wrk (Debian package "wrk")');
  }
  const pin = availableParallelism() >= 2 && (await commandExists('taskset'));
  const servicePrefix = pin ? ['taskset', '-c', '0'] : [];
  const helperPrefix = pin ? ['taskset', '-c', '1'] : [];
  // This script sends the 50,000 requests itself: keep it off the service's core too.
  if (pin) await run('taskset', ['-a', '-cp', '1', String(process.pid)]);
  const redisMemoryOf = (redis: RedisHandle) =>
    measureRedisMemory({
      redis,
      seconds: REDIS_MEMORY_SECONDS,
      connections: CONNECTIONS,
      servicePrefix,
      helperPrefix,
      log,
    });

  if (ONLY_REDIS_MEMORY) {
    const redis = await startRedis({ prefix: helperPrefix });
    try {
      const figures = await redisMemoryOf(redis);
      printRedisMemory(figures);
      writeReport('bench-workload-redis-memory.json', { pinned: pin, redisMemory: figures });
    } finally {
      closeClient();
      await redis.stop();
    }
    return;
  }

  log(`building the Go reference (bench/go-reference) ...`);
  const goBinary = join(mkdtempSync(join(tmpdir(), 'lastcall-go-ref-')), 'go-reference');
  await run('go', ['build', '-o', goBinary, '.'], { cwd: join(REPO_ROOT, 'bench/go-reference') });

  const specs: Array<Omit<ServiceSpec, 'env'> & { extraEnv: Record<string, string> }> = [
    { ...nodeSpec(), extraEnv: { LOG_LEVEL: 'info' } },
    { ...goSpec(goBinary), extraEnv: { GOMAXPROCS: '1' } },
  ];
  const redis = await startRedis({ prefix: helperPrefix });
  try {
    const throughput = await measureThroughput(specs, redis, servicePrefix, helperPrefix);
    const memory: MemoryAndDrain[] = [];
    for (const spec of specs) memory.push(await measureMemoryAndDrain(spec, redis, servicePrefix));
    const redisMemory = await redisMemoryOf(redis);
    const results: Figures[] = specs.map((spec, i) => ({
      service: spec.name,
      ...(throughput[i] as ThroughputFigures),
      ...(memory[i] as MemoryAndDrain),
    }));
    const [node, go] = results as [Figures, Figures];
    printTable(node, go, pin);
    printRedisMemory(redisMemory);
    const settings = { connections: CONNECTIONS, seconds: MEASURE_SECONDS, rounds: ROUNDS, pending: PENDING };
    writeReport('bench-workload.json', { pinned: pin, settings, results, redisMemory });
  } finally {
    closeClient();
    await redis.stop();
  }
}

interface ThroughputFigures {
  /** The median run by requests/s (its latencies are reported with it). */
  throughput: WrkResult;
  /**
   * The best run: other processes on a shared machine can only take CPU away, so the fastest run
   * is the least disturbed estimate of what the service can do.
   */
  best: WrkResult;
  runs: number[];
  /**
   * Median CPU time per request, the increment it causes included (the turn ends when the work is
   * done). Unlike requests/s it barely depends on how much CPU the neighbours leave.
   */
  cpuUsPerRequest: number;
}

/**
 * Both services run side by side and take turns under wrk, so a noisy neighbour on this shared
 * machine hits both alike; the median and the best of the rounds are reported. Between turns the measured
 * service's increments (5 s of "work" each) are allowed to finish, so they do not eat into the
 * other's turn.
 */
async function measureThroughput(
  specs: Array<Omit<ServiceSpec, 'env'> & { extraEnv: Record<string, string> }>,
  redis: RedisHandle,
  servicePrefix: string[],
  helperPrefix: string[],
): Promise<ThroughputFigures[]> {
  const services: Service[] = [];
  try {
    for (const [i, spec] of specs.entries()) {
      const env = {
        ...spec.extraEnv,
        REDIS_URL: redis.url,
        COUNTER_KEY: `throughput:${i}`,
        WORK_DELAY_MS: String(THROUGHPUT_WORK_DELAY_MS),
      };
      services.push(await startService({ ...spec, env }, servicePrefix));
    }
    const turn = async (service: Service, seconds: number): Promise<WrkResult & { cpuUs: number }> => {
      const url = `${service.baseUrl}/incr`;
      const cpuBefore = service.cpuSeconds();
      const result = await runWrk({ url, connections: CONNECTIONS, seconds, prefix: helperPrefix });
      await waitFor(`${service.name}: pending work done`, async () => (await service.pending()) === 0, {
        timeoutMs: THROUGHPUT_WORK_DELAY_MS * 4,
      });
      return { ...result, cpuUs: ((service.cpuSeconds() - cpuBefore) * 1e6) / result.requests };
    };
    log(`warm-up: ${WARMUP_SECONDS} s each`);
    for (const service of services) await turn(service, WARMUP_SECONDS);
    const runs: Array<Array<WrkResult & { cpuUs: number }>> = services.map(() => []);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [i, service] of services.entries()) {
        const result = await turn(service, MEASURE_SECONDS);
        runs[i]?.push(result);
        log(
          `round ${round}/${ROUNDS} ${service.name}: ${Math.round(result.requestsPerSecond)} req/s, ` +
            `${result.cpuUs.toFixed(1)} CPU-µs/request`,
        );
      }
    }
    return runs.map((results) => {
      const sorted = [...results].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
      return {
        throughput: sorted[Math.floor(sorted.length / 2)] as WrkResult,
        best: sorted[sorted.length - 1] as WrkResult,
        runs: results.map((r) => Math.round(r.requestsPerSecond)),
        cpuUsPerRequest: median(results.map((r) => r.cpuUs)),
      };
    });
  } finally {
    for (const service of services) await service.terminate();
  }
}

interface MemoryAndDrain {
  pendingMeasured: number;
  rssMb: number;
  peakRssMb: number;
  drainMs: number;
  longestRemainingWorkMs: number;
  drainOverheadMs: number;
  exitCode: number | null;
  counterAfterDrain: number;
}

/**
 * RSS with PENDING increments pending, then the drain: SIGTERM to exit, minus the work that was
 * still due (the youngest increment's remaining delay). One service at a time.
 */
async function measureMemoryAndDrain(
  spec: Omit<ServiceSpec, 'env'> & { extraEnv: Record<string, string> },
  redis: RedisHandle,
  servicePrefix: string[],
): Promise<MemoryAndDrain> {
  await redis.client.flushall();
  const env = { ...spec.extraEnv, REDIS_URL: redis.url, WORK_DELAY_MS: String(PENDING_WORK_DELAY_MS) };
  const service = await startService({ ...spec, env }, servicePrefix);
  try {
    log(`${spec.name}: sending exactly ${PENDING} requests ...`);
    const lastAnswerAt = await sendExactly(service.baseUrl, PENDING, CONNECTIONS);
    const pendingMeasured = await service.pending();
    const { rssMb, peakRssMb } = service.memory();
    if (pendingMeasured !== PENDING) log(`warning: ${pendingMeasured} pending, not ${PENDING}`);
    const { signalledAt, exitedAt, code } = await service.terminate();
    // The last increment was accepted before its answer arrived, so it falls due no later than
    // lastAnswerAt + delay: the overhead computed here is an upper bound.
    const longestRemainingWorkMs = lastAnswerAt + PENDING_WORK_DELAY_MS - signalledAt;
    const drainMs = exitedAt - signalledAt;
    const counterAfterDrain = await readCounter(redis);
    log(
      `${spec.name}: ${pendingMeasured} pending, RSS ${rssMb.toFixed(1)} MB, drain ${Math.round(drainMs)} ms`,
    );
    return {
      pendingMeasured,
      rssMb,
      peakRssMb,
      drainMs,
      longestRemainingWorkMs,
      drainOverheadMs: drainMs - longestRemainingWorkMs,
      exitCode: code,
      counterAfterDrain,
    };
  } finally {
    service.kill();
  }
}

function printTable(node: Figures, go: Figures, pinned: boolean): void {
  const rows: Array<[string, number, number, string, string]> = [
    [
      `throughput /incr, c=${CONNECTIONS}, median of ${ROUNDS} (req/s)`,
      node.throughput.requestsPerSecond,
      go.throughput.requestsPerSecond,
      '>= 8000, >= 0.6x Go',
      verdict(
        node.throughput.requestsPerSecond >= 8000 &&
          node.throughput.requestsPerSecond >= 0.6 * go.throughput.requestsPerSecond,
      ),
    ],
    [
      `throughput /incr, c=${CONNECTIONS}, best of ${ROUNDS} (req/s)`,
      node.best.requestsPerSecond,
      go.best.requestsPerSecond,
      '>= 8000, >= 0.6x Go',
      verdict(
        node.best.requestsPerSecond >= 8000 && node.best.requestsPerSecond >= 0.6 * go.best.requestsPerSecond,
      ),
    ],
    [
      'CPU per request incl. its increment (µs)',
      node.cpuUsPerRequest,
      go.cpuUsPerRequest,
      'less is better',
      '',
    ],
    [
      'capacity of one core = 1e6 / CPU-µs (req/s)',
      1e6 / node.cpuUsPerRequest,
      1e6 / go.cpuUsPerRequest,
      '>= 8000, >= 0.6x Go',
      verdict(1e6 / node.cpuUsPerRequest >= 8000 && go.cpuUsPerRequest / node.cpuUsPerRequest >= 0.6),
    ],
    ['latency p50, median run (ms)', node.throughput.p50Us / 1000, go.throughput.p50Us / 1000, '', ''],
    ['latency p90 (ms)', node.throughput.p90Us / 1000, go.throughput.p90Us / 1000, '', ''],
    ['latency p99 (ms)', node.throughput.p99Us / 1000, go.throughput.p99Us / 1000, '', ''],
    ['latency max (ms)', node.throughput.maxUs / 1000, go.throughput.maxUs / 1000, '', ''],
    [`RSS with ${PENDING} pending (MB)`, node.rssMb, go.rssMb, '<= 200 MB', verdict(node.rssMb <= 200)],
    ['peak RSS so far (MB)', node.peakRssMb, go.peakRssMb, '', ''],
    ['SIGTERM to exit (ms)', node.drainMs, go.drainMs, '', ''],
    ['longest remaining work (ms)', node.longestRemainingWorkMs, go.longestRemainingWorkMs, '', ''],
    [
      `drain overhead, ${PENDING} pending (ms)`,
      node.drainOverheadMs,
      go.drainOverheadMs,
      '<= 100 ms',
      verdict(node.drainOverheadMs <= 100),
    ],
    [
      `counter after drain (want ${PENDING})`,
      node.counterAfterDrain,
      go.counterAfterDrain,
      'exact',
      verdict(node.counterAfterDrain === PENDING),
    ],
  ];
  const header = ['metric', 'node', 'go', 'node/go', 'goal', ''];
  const body = rows.map(([name, n, g, goal, ok]) => [
    name,
    format(n),
    format(g),
    g === 0 ? '-' : `${(n / g).toFixed(2)}x`,
    goal,
    ok,
  ]);
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => (row[i] ?? '').length)));
  const line = (row: string[]): string =>
    row
      .map((cell, i) => (i === 0 || i >= 4 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ');
  console.log();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of body) console.log(line(row));
  console.log();
  console.log(
    `errors: node ${node.throughput.socketErrors} socket/${node.throughput.non2xx} non-2xx, go ${go.throughput.socketErrors}/${go.throughput.non2xx}; ` +
      `runs node ${node.runs.join('/')}, go ${go.runs.join('/')} req/s; exit codes node ${node.exitCode}, go ${go.exitCode}; CPU pinning ${pinned ? 'on (service CPU 0; wrk, Redis, bench CPU 1)' : 'off'}; ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
}

function printRedisMemory(figures: RedisMemoryFigures): void {
  console.log();
  console.log(
    `Redis memory for exactly-once bookkeeping (counter excluded), after ${format(figures.increments)} increments:`,
  );
  console.log(`  bookkeeping keys                 ${format(figures.bookkeepingKeys)}`);
  console.log(`  bookkeeping bytes (MEMORY USAGE) ${format(figures.bookkeepingBytes)}`);
  console.log(`  bytes per increment              ${figures.bookkeepingBytesPerIncrement.toFixed(3)}`);
  // used_memory also moves with client buffers and the script cache: noise of some 100 KB.
  console.log(
    `  used_memory delta (all of Redis) ${format(figures.usedMemoryDeltaBytes)} bytes = ${figures.usedMemoryBytesPerIncrement.toFixed(3)} B/increment`,
  );
}

function writeReport(name: string, body: Record<string, unknown>): void {
  const dir = join(REPO_ROOT, 'reports');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(
    file,
    `${JSON.stringify({ at: new Date().toISOString(), loadavg: loadavg(), ...body }, null, 2)}\n`,
  );
  log(`figures written to ${file}`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function format(value: number): string {
  if (Number.isInteger(value) || Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
}

function verdict(ok: boolean): string {
  return ok ? 'ok' : 'MISSED';
}

async function commandExists(command: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${command}`]);
    return true;
  } catch {
    return false;
  }
}

function log(message: string): void {
  console.error(`[bench] ${message}`);
}

await main();
