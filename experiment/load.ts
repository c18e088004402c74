/**
 * Drives the load with vegeta, the tool of the seed experiment:
 *   (rate * duration target lines) | vegeta attack -lazy -rate R/1s | vegeta encode
 * and counts the JSON results as they stream in, per second of request start.
 * Exactly rate * duration requests, each of which yields one result (a status
 * code, or an error such as "connection refused").
 *
 * Why targets and not `-duration`: vegeta stops as soon as the elapsed time
 * passes the duration (lib/attack.go Attack), and its pacer schedules the
 * last request exactly at the duration, so on a loaded machine, where a
 * request leaves a little late, the last ones are never sent (a busy run
 * sent 118 of 120). With one target line per request, read lazily, and no
 * duration, the attack ends when the targets run out: the hit that finds
 * none sends nothing, reports "no targets to attack" and stops the attack.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { LoadTally, type LoadTotals, type VegetaResult } from './load-tally.ts';

export type { LoadSecond, LoadTotals } from './load-tally.ts';

interface LoadPlan {
  /** the vegeta binary */
  vegeta: string;
  /** e.g. http://127.0.0.1:30080/incr */
  url: string;
  rate: number;
  durationSeconds: number;
  /** per-request timeout; the workload answers at once, so seconds mean trouble */
  timeoutSeconds?: number;
  /**
   * GET (the seed's) or POST. Go's HTTP client (vegeta's) silently re-sends a GET whose reused
   * connection the server closed (net/http Transport: idempotent requests only); a POST without an
   * Idempotency-Key header is never re-sent, so every such failure shows.
   */
  method?: 'GET' | 'POST';
}

export interface LoadRun {
  /** wall-clock ms when vegeta was started (spawned); its first request follows later */
  readonly startedAt: number;
  /** live figures: results so far */
  snapshot(): LoadTotals;
  /** vegeta's expected sends so far (its pacer is exact), for progress lines */
  scheduledSent(now?: number): number;
  /** resolves when every result is in; rejects when vegeta fails */
  readonly done: Promise<LoadTotals>;
  /** `done` has resolved: every result is in, so the results, not the schedule, say what was sent */
  readonly finished: boolean;
  /** ends the attack early (SIGINT: vegeta stops and flushes what it has) */
  stop(): void;
}

export function startLoad(plan: LoadPlan): LoadRun {
  const startedAt = Date.now();
  const timeout = plan.timeoutSeconds ?? 10;
  // -max-body 0: the answer's body (the request id) is not needed.
  const attack = spawn(
    plan.vegeta,
    ['attack', `-rate=${plan.rate}/1s`, '-lazy', `-timeout=${timeout}s`, '-max-body=0', '-targets=stdin'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const encode = spawn(plan.vegeta, ['encode', '-to=json'], { stdio: ['pipe', 'pipe', 'pipe'] });
  // One target line per request (see the top of this file).
  attack.stdin.end(`${plan.method ?? 'GET'} ${plan.url}\n`.repeat(plan.rate * plan.durationSeconds));
  attack.stdout.pipe(encode.stdin);

  const tally = new LoadTally(startedAt);
  const stderr: string[] = [];
  collect(attack, stderr);
  collect(encode, stderr);

  const lines = createInterface({ input: encode.stdout, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    tally.add(JSON.parse(line) as VegetaResult);
  });

  let stopped = false;
  const done = (async () => {
    const [attackExit] = await Promise.all([exitOf(attack), exitOf(encode), once(lines, 'close')]);
    tally.finish(Date.now());
    if (attackExit.code !== 0 && attackExit.signal !== 'SIGINT' && !stopped) {
      throw new Error(
        `vegeta attack exited with ${attackExit.code ?? attackExit.signal}: ${stderr.join('')}`,
      );
    }
    return tally.snapshot();
  })();
  let finished = false;
  done.then(
    () => {
      finished = true;
    },
    () => {}, // the caller awaits `done` and sees the failure there
  );

  return {
    startedAt,
    done,
    get finished() {
      return finished;
    },
    snapshot: () => tally.snapshot(),
    scheduledSent: (now = Date.now()) => {
      // the pacer's clock starts with the first request; until that is known, nothing is due
      const first = tally.firstSentAt;
      if (first === null) return 0;
      return Math.min(plan.rate * plan.durationSeconds, Math.floor(((now - first) / 1000) * plan.rate) + 1);
    },
    stop() {
      stopped = true;
      attack.kill('SIGINT');
    },
  };
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
