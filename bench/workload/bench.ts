// npm run bench:workload: throughput, latency, memory and drain overhead of the workload against a
// real Redis, next to the seed article's graceful service rewritten in Go (bench/go-reference),
// in the same run. One core each: the service is pinned to CPU 0 (GOMAXPROCS=1 for Go, one Node
// process), wrk, Redis and this script to CPU 1. Not part of npm test.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, readCounter, startRedis } from '../../test/workload/support.ts';
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
const MEASURE_SECONDS = env('BENCH_SECONDS', 10);
const PENDING = env('BENCH_PENDING', 50_000);
/** The article's 5 s of "business logic" for the throughput run. */
const THROUGHPUT_WORK_DELAY_MS = 5000;
/** Long enough that all 50,000 requests are answered before the first increment falls due. */
const PENDING_WORK_DELAY_MS = env('BENCH_PENDING_WORK_DELAY_MS', 20_000);

interface Figures {
  service: string;
  throughput: WrkResult;
  pendingMeasured: number;
  rssMb: number;
  peakRssMb: number;
  drainMs: number;
  longestRemainingWorkMs: number;
  drainOverheadMs: number;
  exitCode: number | null;
  counterAfterDrain: number;
}

async function main(): Promise<void> {
  if (!(await hasWrk())) {
    throw new Error('wrk is not installed: apt-get install wrk (Debian package "wrk")');
  }
  const pin = availableParallelism() >= 2 && (await commandExists('taskset'));
  const servicePrefix = pin ? ['taskset', '-c', '0'] : [];
  const helperPrefix = pin ? ['taskset', '-c', '1'] : [];
  // This script sends the 50,000 requests itself: keep it off the service's core too.
  if (pin) await run('taskset', ['-a', '-cp', '1', String(process.pid)]);

  log(`building the Go reference (bench/go-reference) ...`);
  const goBinary = join(mkdtempSync(join(tmpdir(), 'lastcall-go-ref-')), 'go-reference');
  await run('go', ['build', '-o', goBinary, '.'], { cwd: join(REPO_ROOT, 'bench/go-reference') });

  const specs: Array<[Omit<ServiceSpec, 'env'>, Record<string, string>]> = [
    [nodeSpec(), { LOG_LEVEL: 'info' }],
    [goSpec(goBinary), { GOMAXPROCS: '1' }],
  ];
  const results: Figures[] = [];
  for (const [spec, extraEnv] of specs)
    results.push(await measure(spec, extraEnv, servicePrefix, helperPrefix));
  closeClient();

  const [node, go] = results as [Figures, Figures];
  printTable(node, go, pin);
  const dir = join(REPO_ROOT, 'reports');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'bench-workload.json');
  writeFileSync(
    file,
    `${JSON.stringify({ at: new Date().toISOString(), pinned: pin, loadavg: loadavg(), connections: CONNECTIONS, seconds: MEASURE_SECONDS, results }, null, 2)}\n`,
  );
  log(`figures written to ${file}`);
}

async function measure(
  spec: Omit<ServiceSpec, 'env'>,
  extraEnv: Record<string, string>,
  servicePrefix: string[],
  helperPrefix: string[],
): Promise<Figures> {
  const redis = await startRedis({ prefix: helperPrefix });
  let service: Service | undefined;
  try {
    // 1. Throughput and latency at a fixed concurrency, after a warm-up (JIT, connection pools).
    log(
      `${spec.name}: throughput, ${CONNECTIONS} connections, ${WARMUP_SECONDS} s warm-up + ${MEASURE_SECONDS} s`,
    );
    service = await startService(
      {
        ...spec,
        env: { ...extraEnv, REDIS_URL: redis.url, WORK_DELAY_MS: String(THROUGHPUT_WORK_DELAY_MS) },
      },
      servicePrefix,
    );
    const url = `${service.baseUrl}/incr`;
    await runWrk({ url, connections: CONNECTIONS, seconds: WARMUP_SECONDS, prefix: helperPrefix });
    const throughput = await runWrk({
      url,
      connections: CONNECTIONS,
      seconds: MEASURE_SECONDS,
      prefix: helperPrefix,
    });
    log(`${spec.name}: ${Math.round(throughput.requestsPerSecond)} req/s; draining ...`);
    await service.terminate();

    // 2. Memory with PENDING increments pending, then the drain: SIGTERM to exit, minus the work
    //    that was still due (the youngest increment's remaining delay).
    await redis.client.flushall();
    service = await startService(
      { ...spec, env: { ...extraEnv, REDIS_URL: redis.url, WORK_DELAY_MS: String(PENDING_WORK_DELAY_MS) } },
      servicePrefix,
    );
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
      service: spec.name,
      throughput,
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
    service?.kill();
    await redis.stop();
  }
}

function printTable(node: Figures, go: Figures, pinned: boolean): void {
  const rows: Array<[string, number, number, string, string]> = [
    [
      `throughput /incr, c=${CONNECTIONS} (req/s)`,
      node.throughput.requestsPerSecond,
      go.throughput.requestsPerSecond,
      '>= 8000, >= 0.6x Go',
      verdict(
        node.throughput.requestsPerSecond >= 8000 &&
          node.throughput.requestsPerSecond >= 0.6 * go.throughput.requestsPerSecond,
      ),
    ],
    ['latency p50 (ms)', node.throughput.p50Us / 1000, go.throughput.p50Us / 1000, '', ''],
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
      `exit codes node ${node.exitCode}, go ${go.exitCode}; CPU pinning ${pinned ? 'on (service CPU 0; wrk, Redis, bench CPU 1)' : 'off'}; ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
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
