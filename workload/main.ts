// Wiring only: configuration, logger, Redis, pending increments, HTTP server, signals.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { type AddressInfo, Server as NetServer } from 'node:net';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { type DrainReport, EXIT_CODES, hardExitReport } from '../contracts/drain-report.ts';
import { INCREMENT_LATENCY_ALLOWANCE_MS } from '../contracts/workload-env.ts';
import { createRequestListener } from './app.ts';
import { formatIssue, parseConfig, redactCredentials } from './config.ts';
import { ConnectionTracker } from './connections.ts';
import { Counter } from './counter.ts';
import { armTestCrash, installCrashHandler } from './crash.ts';
import { Drain } from './drain.ts';
import { createMetrics } from './metrics.ts';
import { PendingIncrements } from './pending.ts';
import { RedisContact, readiness } from './readiness.ts';
import { writeTerminationMessage } from './termination.ts';

/** Node's default is 5 s; see createServer below for why 620 s. */
const KEEP_ALIVE_TIMEOUT_MS = 620_000;

// Synchronous writes: the last lines before process.exit() (the drain summary, "exit") must not
// sit in a buffer that dies with the process. Only lifecycle events are logged, never per request.
const destination = pino.destination({ dest: 1, sync: true });

const parsed = parseConfig(process.env);
if (!parsed.ok) {
  const logger = pino({ base: { service: 'lastcall-workload' } }, destination);
  for (const issue of parsed.issues)
    logger.fatal({ ...issue }, `invalid configuration: ${formatIssue(issue)}`);
  process.exit(EXIT_CODES.invalidConfig);
}
const config = parsed.config;
const logger = pino(
  { level: config.logLevel, base: { service: 'lastcall-workload', image: config.image } },
  destination,
);

const redis = new Redis(config.redisUrl, {
  ...(config.redisPassword === undefined ? {} : { password: config.redisPassword }),
  connectionName: 'lastcall-workload',
  // Commands of one event-loop turn leave in one write.
  enableAutoPipelining: true,
  // Fail a command after one failed reconnect instead of queueing it for long: the pending
  // increments retry with their own backoff, bounded by the drain deadline.
  maxRetriesPerRequest: 1,
  retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
  // A Redis that accepts but never answers must not hold a batch forever; a re-sent batch is safe.
  commandTimeout: 5000,
});
// One warning per outage (and one at start when Redis is not there yet), not one per reconnect.
let redisState: 'connecting' | 'up' | 'down' | 'closing' = 'connecting';
redis.on('ready', () => {
  redisState = 'up';
  logger.info({ redis: redactCredentials(config.redisUrl) }, 'redis ready');
});
redis.on('error', (error: Error) => {
  if (redisState === 'down' || redisState === 'closing')
    return logger.debug({ err: error.message }, 'redis connection error');
  redisState = 'down';
  logger.warn(
    { err: error.message, redis: redactCredentials(config.redisUrl) },
    'redis unreachable, reconnecting',
  );
});
redis.on('close', () => {
  if (redisState === 'closing') return;
  if (redisState === 'up') logger.warn('redis connection closed, reconnecting');
  redisState = 'down';
});

// This process's writer id for the exactly-once bookkeeping (counter.ts): a restarted process is
// a new writer whose batch numbers start again at 1.
const counter = new Counter(redis, config.counterKey, randomUUID());
// The gauge reads the queue's size only when scraped, long after both exist.
const metrics = createMetrics(() => pending.size);
const pending = new PendingIncrements({
  workDelayMs: config.workDelayMs,
  maxPending: config.maxPendingIncrements,
  batchWindowMs: 5,
  apply: (batch) => counter.apply(batch),
  observer: {
    applied(batch, appliedBefore) {
      redisContact.answered();
      metrics.completed.inc(batch.count);
      if (appliedBefore) {
        metrics.alreadyApplied.inc(batch.count);
        logger.info(
          { batch: batch.seq, alreadyApplied: batch.count },
          're-sent increments were already applied; not counted twice',
        );
      }
    },
    attemptFailed(error, attempt, batch) {
      metrics.failedAttempts.inc();
      if (attempt === 1) {
        logger.warn(
          {
            err: error instanceof Error ? error.message : String(error),
            batch: batch.seq,
            batchSize: batch.count,
          },
          'increment failed, retrying',
        );
      }
    },
    recovered(attempts, batch) {
      logger.info(
        { attempts, batch: batch.seq, batchSize: batch.count },
        'increment succeeded after retries',
      );
    },
  },
});

// When Redis last answered, for readiness: confirmed batches say so, a background PING covers
// quiet times. /readyz reads it and never waits for Redis itself (readiness.ts says why).
const redisContact = new RedisContact(redisAnswers);
redisContact.start();

const server = createServer({
  // Above the idle timeouts of the load balancers in front (AWS ALB 60 s by default, Google Cloud
  // load balancers 600 s): the side that closes an idle connection must be the balancer, else it
  // may send a request on a connection this server is closing at that moment and answer 502.
  // 620 s is what Google documents for backends; Node's default is 5 s. The drain closes only
  // sockets idle for IDLE_CLOSE_MS, a second by default (connections.ts says why not at once).
  keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
});
const connections = new ConnectionTracker();
server.on('connection', (socket) => connections.connected(socket));
// Registered before the app's listener, so a request counts as in flight before it is answered.
server.on('request', (req, res) => {
  connections.requestStarted(req.socket);
  res.once('close', () => connections.requestEnded(req.socket));
});
const drain = new Drain({
  shutdownDelayMs: config.shutdownDelayMs,
  drainTimeoutMs: config.drainTimeoutMs,
  steps: {
    // net.Server's close, not http.Server's: the latter also closes every idle keep-alive socket
    // at once, racing the requests clients are sending on them (connections.ts).
    closeListener: () =>
      new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve())),
    closeIdleConnections: () => connections.closeIdle(config.idleCloseMs),
    closeAllConnections: () => server.closeAllConnections(),
    counts: () => ({ pending: pending.size, accepted: pending.accepted, completed: pending.completed }),
    waitForIncrements: (signal) => pending.waitUntilEmpty(signal),
    abandonIncrements: () => pending.abandon(),
    closeRedis: () => closeRedis(1000),
  },
  onPhase(phase, details) {
    const messages = {
      serving: 'serving',
      delaying: 'draining: readiness off, still serving for SHUTDOWN_DELAY_MS',
      closing: 'listener closing: new connections refused, responses carry Connection: close',
      draining: 'waiting for pending increments',
      stopped: 'drain finished',
    } as const;
    logger.info({ phase, ...details }, messages[phase]);
  },
});

server.on(
  'request',
  createRequestListener({
    counterKey: config.counterKey,
    image: config.image,
    mode: config.shutdownMode,
    promiseIncrement: () => pending.add(),
    canFinishInTime: () =>
      drain.canFinishBy(performance.now() + config.workDelayMs + INCREMENT_LATENCY_ALLOWANCE_MS),
    readCounter: () => counter.read(),
    readiness: () =>
      readiness({
        serving: drain.ready,
        drainPhase: drain.phase,
        pending: pending.size,
        maxPending: pending.maxPending,
        sinceRedisAnsweredMs: redisContact.sinceAnsweredMs,
      }),
    drain,
    metrics: metrics,
    logger,
  }),
);

// The default host `::` means every address, dual-stack. Node listens there only when the
// kernel has IPv6 and falls back to 0.0.0.0 when it has not, but only when no host is given.
server.listen({ port: config.port, ...(config.host === '::' ? {} : { host: config.host }) }, () => {
  const { address, port } = server.address() as AddressInfo;
  logger.info(
    {
      host: config.host,
      address,
      port,
      maxPendingIncrements: config.maxPendingIncrements,
      mode: config.shutdownMode,
      workDelayMs: config.workDelayMs,
      drainTimeoutMs: config.drainTimeoutMs,
      shutdownDelayMs: config.shutdownDelayMs,
      redis: redactCredentials(config.redisUrl),
      counterKey: config.counterKey,
      writerId: counter.writerId,
      pid: process.pid,
    },
    'started',
  );
});
server.on('error', (error) => {
  // A server that cannot listen (port taken, address not local) is a crash: the crash path
  // reports it with the crash exit code.
  throw error;
});

installCrashHandler({
  mode: config.shutdownMode,
  terminationMessagePath: config.terminationMessagePath,
  logger,
  pending: () => pending.size,
  draining: () => drain.phase !== 'serving',
});
armTestCrash(config.testCrash, logger);

function exit(summary: DrainReport): never {
  metrics.abandoned.inc(summary.abandoned);
  metrics.drainSeconds.observe(summary.drainMs / 1000);
  writeTerminationMessage(config.terminationMessagePath, summary, logger);
  const drained = summary.exitCode === EXIT_CODES.drained;
  const message = drained
    ? 'drained'
    : summary.mode === 'hard'
      ? 'hard mode exit, pending increments abandoned'
      : 'drain deadline passed, increments abandoned';
  logger[drained ? 'info' : 'error']({ ...summary }, message);
  logger.info({ exitCode: summary.exitCode }, 'exit');
  logger.flush();
  process.exit(summary.exitCode);
}

function onSignal(signal: NodeJS.Signals): void {
  if (config.shutdownMode === 'hard') {
    // The negative control: die at the signal like the original's hard version, losing every
    // pending increment. A handler is still needed: as PID 1 in a container, Node would ignore
    // SIGTERM without one and live until the kubelet's SIGKILL, finishing work it should lose.
    const lost = pending.size;
    logger.warn({ signal, pending: lost }, 'hard mode: exiting at the signal, pending increments are lost');
    exit(hardExitReport(lost, signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM'));
  }
  if (drain.phase !== 'serving') {
    logger.warn({ signal, phase: drain.phase, pending: pending.size }, 'signal ignored: already draining');
    return;
  }
  logger.info({ signal, pending: pending.size }, 'signal received');
  void drain.start()?.then(exit);
}
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

async function redisAnswers(): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  try {
    return (await withTimeout(redis.ping(), 1000)) === 'PONG';
  } catch {
    return false;
  }
}

async function closeRedis(timeoutMs: number): Promise<void> {
  redisState = 'closing';
  redisContact.stop();
  // No batch of this writer will be sent again: let its record expire soon. Awaited before QUIT:
  // with enableAutoPipelining the PEXPIRE waits for the next tick's pipeline while QUIT (never
  // auto-pipelined) is written at once, so a PEXPIRE merely queued ahead of it never reached Redis
  // and every replaced pod's record stayed for WRITER_RECORD_TTL_MS (the soak run, issue 14).
  // One round trip within the same budget; a failure only leaves the record longer.
  const deadline = Date.now() + timeoutMs;
  await withTimeout(counter.retire(), timeoutMs).catch(() => {});
  try {
    await withTimeout(redis.quit(), Math.max(1, deadline - Date.now()));
  } catch {
    redis.disconnect();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
