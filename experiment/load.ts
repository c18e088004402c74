/**
 * Drives the load with vegeta, the tool of the seed experiment:
 *   vegeta attack -rate R/1s -duration Ds | vegeta encode
 * and counts the JSON results as they stream in, per second of request start.
 * vegeta's pacer sends exactly rate * duration requests, each of which
 * yields one result (a status code, or an error such as "connection refused").
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface LoadPlan {
  /** the vegeta binary */
  vegeta: string;
  /** e.g. http://127.0.0.1:30080/incr */
  url: string;
  rate: number;
  durationSeconds: number;
  /** per-request timeout; the workload answers at once, so seconds mean trouble */
  timeoutSeconds?: number;
}

/** One second of load, by the time requests were sent. */
export interface LoadSecond {
  sent: number;
  ok: number;
  failed: number;
}

export interface LoadTotals {
  sent: number;
  ok: number;
  failed: number;
  /** failures by cause ("503", "connection refused", ...) */
  failures: Record<string, number>;
  /** per second since startedAt, by request start */
  perSecond: LoadSecond[];
  /** slowest answer in milliseconds */
  maxLatencyMs: number;
  startedAt: number;
  finishedAt: number;
}

export interface LoadRun {
  /** wall-clock ms when vegeta was started */
  readonly startedAt: number;
  /** live figures: results so far */
  snapshot(): LoadTotals;
  /** vegeta's expected sends so far (its pacer is exact), for progress lines */
  scheduledSent(now?: number): number;
  /** resolves when every result is in; rejects when vegeta fails */
  readonly done: Promise<LoadTotals>;
  /** ends the attack early (SIGINT: vegeta stops and flushes what it has) */
  stop(): void;
}

/** The subset of vegeta's JSON result that matters here (lib/results.go). */
interface VegetaResult {
  code: number;
  timestamp: string;
  latency: number;
  error: string;
}

export function startLoad(plan: LoadPlan): LoadRun {
  const startedAt = Date.now();
  const timeout = plan.timeoutSeconds ?? 10;
  // -max-body 0: the answer's body (the request id) is not needed.
  const attack = spawn(
    plan.vegeta,
    [
      'attack',
      `-rate=${plan.rate}/1s`,
      `-duration=${plan.durationSeconds}s`,
      `-timeout=${timeout}s`,
      '-max-body=0',
      '-targets=stdin',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const encode = spawn(plan.vegeta, ['encode', '-to=json'], { stdio: ['pipe', 'pipe', 'pipe'] });
  attack.stdin.end(`GET ${plan.url}\n`);
  attack.stdout.pipe(encode.stdin);

  const totals: LoadTotals = {
    sent: 0,
    ok: 0,
    failed: 0,
    failures: {},
    perSecond: [],
    maxLatencyMs: 0,
    startedAt,
    finishedAt: 0,
  };
  const stderr: string[] = [];
  collect(attack, stderr);
  collect(encode, stderr);

  const lines = createInterface({ input: encode.stdout, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    addResult(totals, JSON.parse(line) as VegetaResult);
  });

  let stopped = false;
  const done = (async () => {
    const [attackExit] = await Promise.all([exitOf(attack), exitOf(encode), once(lines, 'close')]);
    totals.finishedAt = Date.now();
    if (attackExit.code !== 0 && attackExit.signal !== 'SIGINT' && !stopped) {
      throw new Error(
        `vegeta attack exited with ${attackExit.code ?? attackExit.signal}: ${stderr.join('')}`,
      );
    }
    return snapshotOf(totals);
  })();

  return {
    startedAt,
    done,
    snapshot: () => snapshotOf(totals),
    scheduledSent: (now = Date.now()) =>
      Math.min(plan.rate * plan.durationSeconds, Math.floor(((now - startedAt) / 1000) * plan.rate) + 1),
    stop() {
      stopped = true;
      attack.kill('SIGINT');
    },
  };
}

/** Counts one result: 2xx is ok, anything else (a code or a transport error) failed. */
export function addResult(totals: LoadTotals, result: VegetaResult): void {
  const second = Math.max(0, Math.floor((Date.parse(result.timestamp) - totals.startedAt) / 1000));
  while (totals.perSecond.length <= second) totals.perSecond.push({ sent: 0, ok: 0, failed: 0 });
  const bucket = totals.perSecond[second] as LoadSecond;
  totals.sent++;
  bucket.sent++;
  totals.maxLatencyMs = Math.max(totals.maxLatencyMs, result.latency / 1e6);
  if (result.code >= 200 && result.code < 300) {
    totals.ok++;
    bucket.ok++;
    return;
  }
  totals.failed++;
  bucket.failed++;
  const cause = failureCause(result);
  totals.failures[cause] = (totals.failures[cause] ?? 0) + 1;
}

/**
 * A short, countable cause. vegeta's transport errors carry the whole
 * request line ("Get \"http://...\": dial tcp 127.0.0.1:30080: connect:
 * connection refused"); the last clause names what happened.
 */
export function failureCause(result: Pick<VegetaResult, 'code' | 'error'>): string {
  if (result.code !== 0) return `HTTP ${result.code}`;
  const error = result.error.trim();
  if (error === '') return 'no answer';
  const parts = error.split(': ');
  return (parts[parts.length - 1] as string).slice(0, 80);
}

function snapshotOf(t: LoadTotals): LoadTotals {
  return { ...t, failures: { ...t.failures }, perSecond: t.perSecond.map((s) => ({ ...s })) };
}

function collect(child: ChildProcess, into: string[]): void {
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => into.push(chunk));
}

async function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return { code: child.exitCode, signal: child.signalCode };
  // 'error' instead of 'exit' when the binary cannot be started (ENOENT).
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}
