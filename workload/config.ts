import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';

/** The workload's configuration, read once from the environment at start-up. */
export interface WorkloadConfig {
  port: number;
  host: string;
  redisUrl: string;
  redisPassword: string | undefined;
  counterKey: string;
  workDelayMs: number;
  shutdownMode: ShutdownMode;
  drainTimeoutMs: number;
  shutdownDelayMs: number;
  terminationMessagePath: string;
  logLevel: LogLevel;
  /** The image this process runs as (set by the local cluster and by the operator), for logs and /healthz. */
  image: string;
}

export type ShutdownMode = 'graceful' | 'hard';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** One refused variable: enough for the operator of the process to fix it without reading code. */
export interface ConfigIssue {
  variable: string;
  value: string;
  allowed: string;
}

export type ConfigResult = { ok: true; config: WorkloadConfig } | { ok: false; issues: ConfigIssue[] };

/**
 * Extra time the default drain deadline grants beyond one unit of work: the Redis round trip,
 * retries with backoff through a short Redis outage, and closing the client.
 */
export const DEFAULT_DRAIN_SLACK_MS = 5000;
const MAX_DURATION_MS = 3_600_000;

export type Env = Readonly<Record<string, string | undefined>>;

export function formatIssue(issue: ConfigIssue): string {
  return `${issue.variable}=${JSON.stringify(issue.value)} is not allowed: expected ${issue.allowed}`;
}

/** Reads and checks every variable; reports all refused variables at once, not just the first. */
export function parseConfig(env: Env): ConfigResult {
  const issues: ConfigIssue[] = [];
  const read = <T>(
    variable: string,
    fallback: T,
    parse: (raw: string) => T | undefined,
    allowed: string,
  ): T => {
    const raw = env[variable];
    // An empty variable is how manifests and shells usually say "not set".
    if (raw === undefined || raw === '') return fallback;
    const value = parse(raw);
    if (value === undefined) {
      issues.push({ variable, value: redactCredentials(raw), allowed });
      return fallback;
    }
    return value;
  };

  const port = read('PORT', 8080, integerIn(0, 65535), 'an integer from 0 to 65535 (0 picks a free port)');
  const host = read('HOST', '0.0.0.0', hostOrAddress, 'an IPv4/IPv6 address or a DNS host name');
  const redisUrl = read(
    'REDIS_URL',
    'redis://127.0.0.1:6379',
    redisUrlOrUndefined,
    'a URL like redis://host:6379 or rediss://host:6380 (scheme redis or rediss, a host, a port from 1 to 65535)',
  );
  const redisPassword = env.REDIS_PASSWORD === '' ? undefined : env.REDIS_PASSWORD;
  const counterKey = read(
    'COUNTER_KEY',
    'counter',
    (raw) => (/^[\x21-\x7e]{1,256}$/.test(raw) ? raw : undefined),
    '1 to 256 printable ASCII characters without spaces',
  );
  const workDelayMs = read('WORK_DELAY_MS', 5000, integerIn(0, MAX_DURATION_MS), msRange(0));
  const shutdownMode = read(
    'SHUTDOWN_MODE',
    'graceful' as ShutdownMode,
    // Case-insensitive so the CRD's spelling (Graceful | Hard) can be passed through unchanged.
    (raw) => {
      const mode = raw.toLowerCase();
      return mode === 'graceful' || mode === 'hard' ? mode : undefined;
    },
    'graceful or hard',
  );
  const shutdownDelayMs = read('SHUTDOWN_DELAY_MS', 0, integerIn(0, MAX_DURATION_MS), msRange(0));
  // The deadline counts from the signal: by default it covers the shutdown delay, one unit of work
  // accepted at its very end, and some slack.
  const drainTimeoutMs = read(
    'DRAIN_TIMEOUT_MS',
    shutdownDelayMs + workDelayMs + DEFAULT_DRAIN_SLACK_MS,
    integerIn(1, MAX_DURATION_MS),
    msRange(1),
  );
  if (
    env.DRAIN_TIMEOUT_MS &&
    drainTimeoutMs <= shutdownDelayMs &&
    !issues.some((i) => i.variable === 'DRAIN_TIMEOUT_MS')
  ) {
    issues.push({
      variable: 'DRAIN_TIMEOUT_MS',
      value: env.DRAIN_TIMEOUT_MS,
      allowed: `more than SHUTDOWN_DELAY_MS (${shutdownDelayMs}): the deadline counts from the signal and includes the delay`,
    });
  }
  const terminationMessagePath = read(
    'TERMINATION_MESSAGE_PATH',
    '/dev/termination-log',
    (raw) => (isAbsolute(raw) && !raw.includes('\0') ? raw : undefined),
    'an absolute file path',
  );
  const logLevel = read(
    'LOG_LEVEL',
    'info' as LogLevel,
    (raw) => LOG_LEVELS.find((level) => level === raw.toLowerCase()),
    `one of ${LOG_LEVELS.join(', ')}`,
  );
  const image =
    env.LASTCALL_IMAGE === undefined || env.LASTCALL_IMAGE === '' ? 'unknown' : env.LASTCALL_IMAGE;

  if (issues.length > 0) return { ok: false, issues };
  return {
    ok: true,
    config: {
      port,
      host,
      redisUrl,
      redisPassword,
      counterKey,
      workDelayMs,
      shutdownMode,
      drainTimeoutMs,
      shutdownDelayMs,
      terminationMessagePath,
      logLevel,
      image,
    },
  };
}

/** Hides a password written into a URL (redis://user:secret@host) before it reaches a log line. */
export function redactCredentials(text: string): string {
  return text.replace(/(\/\/)[^/@\s]*@/, '$1***@');
}

function msRange(min: number): string {
  return `an integer number of milliseconds from ${min} to ${MAX_DURATION_MS}`;
}

function integerIn(min: number, max: number): (raw: string) => number | undefined {
  return (raw) => {
    if (!/^\d+$/.test(raw)) return undefined;
    const value = Number(raw);
    return value >= min && value <= max ? value : undefined;
  };
}

const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

function hostOrAddress(raw: string): string | undefined {
  return isIP(raw) !== 0 || HOST_NAME.test(raw) ? raw : undefined;
}

function redisUrlOrUndefined(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return undefined;
  if (url.hostname === '') return undefined;
  // An absent port means the default (6379); an explicit one must be usable.
  if (url.port !== '' && Number(url.port) === 0) return undefined;
  // A database number in the path must be a plain integer (redis://host:6379/2).
  if (url.pathname !== '' && url.pathname !== '/' && !/^\/\d{1,2}$/.test(url.pathname)) return undefined;
  return raw;
}
