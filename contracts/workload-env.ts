// The workload's environment: the contract between the operator, whose desired Deployment sets
// these variables on the workload container (operator/desired/deployment.ts), and the workload,
// which parses them at start-up (workload/config.ts). Both import the names, units and defaults
// from here, and contracts/workload-env.unit.test.ts runs the one's output through the other.
//
// Import-free on purpose: both images carry it unchanged (Dockerfile), and neither side can pull
// the other's dependencies in through it.

/** Every variable the workload reads, by what it means. Durations are in milliseconds (`_MS`). */
export const WORKLOAD_ENV = {
  port: 'PORT',
  host: 'HOST',
  redisUrl: 'REDIS_URL',
  /** Set from a Secret (spec.redis.passwordSecretRef); never logged. */
  redisPassword: 'REDIS_PASSWORD',
  counterKey: 'COUNTER_KEY',
  /** The simulated work per increment, in ms. */
  workDelayMs: 'WORK_DELAY_MS',
  shutdownMode: 'SHUTDOWN_MODE',
  /** The drain deadline in ms, counted from the signal (SIGTERM), covering SHUTDOWN_DELAY_MS too. */
  drainTimeoutMs: 'DRAIN_TIMEOUT_MS',
  /** How long the workload keeps serving after the signal, in ms (0 when a preStop sleep does that). */
  shutdownDelayMs: 'SHUTDOWN_DELAY_MS',
  terminationMessagePath: 'TERMINATION_MESSAGE_PATH',
  logLevel: 'LOG_LEVEL',
  /** The image reference, shown in logs and on /healthz (set by the local cluster). */
  image: 'LASTCALL_IMAGE',
  /**
   * Tests only: `exception` or `rejection` arms SIGUSR2 to throw an uncaught exception or leave a
   * promise rejection unhandled, so the crash path can be exercised in a real process.
   */
  testCrash: 'LASTCALL_TEST_CRASH',
} as const;

export type WorkloadEnvName = (typeof WORKLOAD_ENV)[keyof typeof WORKLOAD_ENV];

/** SHUTDOWN_MODE values (matched case-insensitively, so the CRD's Graceful/Hard pass unchanged). */
export const SHUTDOWN_MODES = ['graceful', 'hard'] as const;
export type ShutdownMode = (typeof SHUTDOWN_MODES)[number];

/** LOG_LEVEL values a CounterService may set (spec.logLevel). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
/** The workload also accepts `silent` (tests and benchmarks); the CRD does not offer it. */
export const WORKLOAD_LOG_LEVELS = [...LOG_LEVELS, 'silent'] as const;
export type LogLevel = (typeof WORKLOAD_LOG_LEVELS)[number];

/** TEST crash triggers (LASTCALL_TEST_CRASH). */
export const TEST_CRASH_TRIGGERS = ['exception', 'rejection'] as const;
export type TestCrashTrigger = (typeof TEST_CRASH_TRIGGERS)[number];

/** What the workload assumes for a variable that is unset or empty. */
export const WORKLOAD_DEFAULTS = {
  port: 8080,
  host: '0.0.0.0',
  redisUrl: 'redis://127.0.0.1:6379',
  counterKey: 'counter',
  workDelayMs: 5000,
  shutdownMode: 'graceful',
  shutdownDelayMs: 0,
  /** The kubelet's default terminationMessagePath. */
  terminationMessagePath: '/dev/termination-log',
  logLevel: 'info',
} as const satisfies {
  port: number;
  host: string;
  redisUrl: string;
  counterKey: string;
  workDelayMs: number;
  shutdownMode: ShutdownMode;
  shutdownDelayMs: number;
  terminationMessagePath: string;
  logLevel: LogLevel;
};

/**
 * Extra time the default drain deadline grants beyond one unit of work: the Redis round trip,
 * retries with backoff through a short Redis outage, and closing the client. The default
 * DRAIN_TIMEOUT_MS is SHUTDOWN_DELAY_MS + WORK_DELAY_MS + this.
 */
export const DEFAULT_DRAIN_SLACK_MS = 5000;

/** The largest duration any `_MS` variable accepts (one hour). */
export const MAX_DURATION_MS = 3_600_000;

/** The operator thinks in whole seconds (the CRD's fields), the workload in milliseconds. */
export function secondsToMs(seconds: number): number {
  return Math.round(seconds * 1000);
}
