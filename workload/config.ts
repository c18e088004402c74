import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';
import {
  DEFAULT_DRAIN_SLACK_MS,
  type LogLevel,
  MAX_DURATION_MS,
  MAX_PENDING_INCREMENTS_LIMIT,
  SHUTDOWN_MODES,
  type ShutdownMode,
  TEST_CRASH_TRIGGERS,
  type TestCrashTrigger,
  WORKLOAD_DEFAULTS,
  WORKLOAD_ENV,
  WORKLOAD_LOG_LEVELS,
} from '../contracts/workload-env.ts';

/** The workload's configuration, read once from the environment at start-up. */
interface WorkloadConfig {
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
  /** Tests only (LASTCALL_TEST_CRASH): how SIGUSR2 crashes the process; undefined in production. */
  testCrash: TestCrashTrigger | undefined;
  /** The most increments pending at once; past it /incr answers 503 with Retry-After. */
  maxPendingIncrements: number;
  idleCloseMs: number;
}

/** One refused variable: enough for the operator of the process to fix it without reading code. */
interface ConfigIssue {
  variable: string;
  value: string;
  allowed: string;
}

type ConfigResult = { ok: true; config: WorkloadConfig } | { ok: false; issues: ConfigIssue[] };

type Env = Readonly<Record<string, string | undefined>>;

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

  const E = WORKLOAD_ENV;
  const D = WORKLOAD_DEFAULTS;
  const port = read(E.port, D.port, integerIn(0, 65535), 'an integer from 0 to 65535 (0 picks a free port)');
  const host = read<string>(E.host, D.host, hostOrAddress, 'an IPv4/IPv6 address or a DNS host name');
  const redisUrl = read(
    E.redisUrl,
    D.redisUrl,
    redisUrlOrUndefined,
    'a URL like redis://host:6379 or rediss://host:6380 (scheme redis or rediss, a host, a port from 1 to 65535)',
  );
  const redisPassword = env[E.redisPassword] === '' ? undefined : env[E.redisPassword];
  const counterKey = read(
    E.counterKey,
    D.counterKey,
    (raw) => (/^[\x21-\x7e]{1,256}$/.test(raw) ? raw : undefined),
    '1 to 256 printable ASCII characters without spaces',
  );
  const workDelayMs = read(E.workDelayMs, D.workDelayMs, integerIn(0, MAX_DURATION_MS), msRange(0));
  const shutdownMode = read<ShutdownMode>(
    E.shutdownMode,
    D.shutdownMode,
    // Case-insensitive so the CRD's spelling (Graceful | Hard) can be passed through unchanged.
    (raw) => SHUTDOWN_MODES.find((mode) => mode === raw.toLowerCase()),
    SHUTDOWN_MODES.join(' or '),
  );
  const shutdownDelayMs = read(
    E.shutdownDelayMs,
    D.shutdownDelayMs,
    integerIn(0, MAX_DURATION_MS),
    msRange(0),
  );
  // The deadline counts from the signal: by default it covers the shutdown delay, one unit of work
  // accepted at its very end, and some slack.
  const drainTimeoutMs = read(
    E.drainTimeoutMs,
    shutdownDelayMs + workDelayMs + DEFAULT_DRAIN_SLACK_MS,
    integerIn(1, MAX_DURATION_MS),
    msRange(1),
  );
  const drainTimeoutRaw = env[E.drainTimeoutMs];
  if (
    drainTimeoutRaw &&
    drainTimeoutMs <= shutdownDelayMs &&
    !issues.some((i) => i.variable === E.drainTimeoutMs)
  ) {
    issues.push({
      variable: E.drainTimeoutMs,
      value: drainTimeoutRaw,
      allowed: `more than ${E.shutdownDelayMs} (${shutdownDelayMs}): the deadline counts from the signal and includes the delay`,
    });
  }
  const terminationMessagePath = read(
    E.terminationMessagePath,
    D.terminationMessagePath,
    (raw) => (isAbsolute(raw) && !raw.includes('\0') ? raw : undefined),
    'an absolute file path',
  );
  const logLevel = read<LogLevel>(
    E.logLevel,
    D.logLevel,
    (raw) => WORKLOAD_LOG_LEVELS.find((level) => level === raw.toLowerCase()),
    `one of ${WORKLOAD_LOG_LEVELS.join(', ')}`,
  );
  const image = env[E.image] === undefined || env[E.image] === '' ? 'unknown' : (env[E.image] as string);
  const testCrash = read<TestCrashTrigger | undefined>(
    E.testCrash,
    undefined,
    (raw) => TEST_CRASH_TRIGGERS.find((trigger) => trigger === raw),
    `${TEST_CRASH_TRIGGERS.join(' or ')} (tests only)`,
  );

  const maxPendingIncrements = read(
    E.maxPendingIncrements,
    D.maxPendingIncrements,
    integerIn(1, MAX_PENDING_INCREMENTS_LIMIT),
    `an integer from 1 to ${MAX_PENDING_INCREMENTS_LIMIT}`,
  );

  const idleCloseMs = read(E.idleCloseMs, D.idleCloseMs, integerIn(0, MAX_DURATION_MS), msRange(0));

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
      testCrash,
      maxPendingIncrements,
      idleCloseMs,
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
