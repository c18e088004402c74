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
   * The most increments that may be pending (promised, not yet confirmed by Redis) at once; past it
   * /incr answers 503 with Retry-After instead of a 200 the process may not keep.
   */
  maxPendingIncrements: 'MAX_PENDING_INCREMENTS',
  /**
   * During a drain, a keep-alive connection with no request for this long is closed; one in use is
   * told `Connection: close` on its next response instead (workload/connections.ts says why).
   */
  idleCloseMs: 'IDLE_CLOSE_MS',
  /**
   * Tests only: `exception` or `rejection` arms SIGUSR2 to throw an uncaught exception or leave a
   * promise rejection unhandled, so the crash path can be exercised in a real process.
   */
  testCrash: 'LASTCALL_TEST_CRASH',
} as const;

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
  /**
   * Every address, dual-stack: IPv6 and IPv4 where the kernel has IPv6 (Node then listens on `::`,
   * which also takes IPv4 connections), IPv4 alone (`0.0.0.0`) where it has not.
   */
  host: '::',
  redisUrl: 'redis://127.0.0.1:6379',
  counterKey: 'counter',
  workDelayMs: 5000,
  shutdownMode: 'graceful',
  shutdownDelayMs: 0,
  /** The kubelet's default terminationMessagePath. */
  terminationMessagePath: '/dev/termination-log',
  logLevel: 'info',
  /**
   * Sized from measured memory (docs/workload.md#bounded-pending-work): a pending increment costs
   * ~30 bytes (a due time in an array), so RSS was 108 MB idle, 129 MB with 50,000 pending and
   * 134 MB with 200,000. 100,000 is 30 s of a pod at ~3,300 requests/s with Redis away, at ~130 MB.
   */
  maxPendingIncrements: 100_000,
  /**
   * Clients pick their most recently used idle connection first, so one unused for a second is not
   * in their rotation, while one in use gets its `Connection: close` well within a second.
   */
  idleCloseMs: 1000,
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
  maxPendingIncrements: number;
  idleCloseMs: number;
};

/** The largest MAX_PENDING_INCREMENTS accepted (~300 MB of due times, far above any sane limit). */
export const MAX_PENDING_INCREMENTS_LIMIT = 10_000_000;

/**
 * After the stop signal the workload promises an increment only if its work can finish before the
 * drain deadline: its due time (now + WORK_DELAY_MS) plus this allowance for its own latency (the
 * 5 ms batch window, waiting for the batch in flight, the Redis round trip, a retry or two) must
 * not pass the deadline; otherwise /incr answers 503 with Retry-After. A budget whose drain
 * deadline cannot cover the work plus this allowance abandons increments on every rollout.
 */
export const INCREMENT_LATENCY_ALLOWANCE_MS = 500;

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
