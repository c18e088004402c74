import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface WrkResult {
  requests: number;
  durationUs: number;
  socketErrors: number;
  non2xx: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  maxUs: number;
  requestsPerSecond: number;
}

/**
 * Closed-loop load at a fixed concurrency with wrk (C, epoll, one thread): it costs far less CPU
 * per request than a load generator in Node would, which matters on a 2-core machine where the
 * generator shares a core with Redis.
 */
export async function runWrk(opts: {
  url: string;
  connections: number;
  seconds: number;
  prefix: string[];
}): Promise<WrkResult> {
  const args = [
    'wrk',
    '-t1',
    `-c${opts.connections}`,
    `-d${opts.seconds}s`,
    '-s',
    join(import.meta.dirname, 'report.lua'),
    opts.url,
  ];
  const [command, ...rest] = [...opts.prefix, ...args];
  const { stdout } = await run(command ?? 'wrk', rest, { maxBuffer: 1 << 20 });
  const line = stdout
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`wrk printed no report:\n${stdout}`);
  const parsed = JSON.parse(line) as Omit<WrkResult, 'requestsPerSecond'>;
  return { ...parsed, requestsPerSecond: parsed.requests / (parsed.durationUs / 1e6) };
}

export async function hasWrk(): Promise<boolean> {
  try {
    await run('wrk', ['--version']);
    return true;
  } catch (error) {
    // wrk --version exits 1 after printing its banner.
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}
