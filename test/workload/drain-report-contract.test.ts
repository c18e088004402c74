// The drain-report contract, producer against consumer. The producer is the real workload process
// (a child process, a real redis-server, real signals), configured with the very environment the
// operator's desired Deployment sets for a real budget; the consumer is the operator's own drain
// observation (drainOf, addDrains with the budget's recommendation, drainEvent), fed a pod built
// from that Deployment's pod template whose container ended as the process did: its exit code (128
// + n for a death by signal n, as the kubelet reports it) and the termination message it wrote.
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { describe, expect, test } from 'vitest';
import { EXIT_CODES } from '../../contracts/drain-report.ts';
import { WORKLOAD_ENV } from '../../contracts/workload-env.ts';
import { applyDefaults, type CounterService } from '../../operator/api/types.ts';
import { type Budget, computeBudget, recommendGracePeriodFor } from '../../operator/budget.ts';
import { desiredDeployment, workloadEnv } from '../../operator/desired/index.ts';
import { addDrains, drainEvent, drainOf, type PodLike } from '../../operator/drains.ts';
import { resolvePolicy } from '../../operator/policy.ts';
import { useFileRedis } from './file-redis.ts';
import {
  readCounter,
  sendIncrements,
  spawnWorkload,
  type WorkloadHandle,
  waitUntilReady,
} from './support.ts';

const redis = useFileRedis();

function counterService(name: string, spec: Record<string, unknown>): CounterService {
  return {
    apiVersion: 'lastcall.dev/v1alpha1',
    kind: 'CounterService',
    metadata: { name, namespace: 'contract', uid: `uid-${name}`, generation: 1 },
    spec: applyDefaults({
      image: 'lastcall/workload:v1',
      redis: { address: 'redis:6379', key: name },
      ...spec,
    }),
  };
}

// Work 1 s; no preStop sleep (the test sends SIGTERM itself); grace 0 + 1 + 1 + 3 = 5 s, so the
// workload's deadline is 4 s after SIGTERM: room for 1 s of work on a loaded machine.
const GRACEFUL = {
  work: { durationSeconds: 1 },
  drain: { propagationSeconds: 0, cleanupSeconds: 1, marginSeconds: 3 },
};
const HARD = { work: { durationSeconds: 5 }, drain: { mode: 'Hard' } };

interface Producer {
  cs: CounterService;
  budget: Budget;
  workload: WorkloadHandle;
}

/** Starts the workload with the environment the operator sets for `cs`, pointed at the test's Redis. */
async function startProducer(
  name: string,
  spec: Record<string, unknown>,
  extra: Record<string, string> = {},
) {
  const cs = counterService(name, spec);
  const decision = computeBudget(cs.spec, resolvePolicy([], 'contract', {}));
  expect(decision.accepted).toBe(true);
  const env: Record<string, string> = {};
  for (const variable of workloadEnv(cs, decision.budget)) {
    if ('value' in variable) env[variable.name] = variable.value;
  }
  // Where a pod differs from a child process: its own loopback port, the test's Redis, and the
  // termination message file spawnWorkload gives every process.
  delete env[WORKLOAD_ENV.terminationMessagePath];
  env[WORKLOAD_ENV.port] = '0';
  env[WORKLOAD_ENV.redisUrl] = redis.url;
  const workload = await spawnWorkload({ ...env, ...extra });
  await waitUntilReady(workload);
  return { cs, budget: decision.budget, workload } satisfies Producer;
}

/**
 * What the operator sees of the ended process: the pod (from the desired Deployment's template)
 * being deleted, its container terminated with the process's exit code and termination message.
 */
async function observe({ cs, budget, workload }: Producer) {
  const { code, signal } = await workload.exited;
  const exitCode = code ?? 128 + (signal ? constants.signals[signal] : 0);
  let message = '';
  try {
    message = readFileSync(workload.terminationMessagePath, 'utf8');
  } catch {
    // SIGKILL: nothing written, as in a pod.
  }
  const template = desiredDeployment(cs, budget).spec.template;
  const name = `${cs.metadata.name}-7d9f-x2`;
  const pod: PodLike = {
    metadata: {
      name,
      namespace: cs.metadata.namespace,
      uid: `pod-uid-${cs.metadata.name}`,
      labels: template.metadata.labels,
      deletionTimestamp: new Date().toISOString(),
      // The kubelet's final DELETE has set it to 0 by the time the last events are seen.
      deletionGracePeriodSeconds: 0,
    },
    spec: template.spec as PodLike['spec'],
    status: {
      phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      containerStatuses: [
        {
          name: template.spec.containers[0]?.name ?? '',
          state: {
            terminated: {
              exitCode,
              reason: exitCode === 0 ? 'Completed' : 'Error',
              message,
              finishedAt: new Date().toISOString(),
            },
          },
        },
      ],
    },
  };
  const drain = drainOf(pod);
  if (!drain) throw new Error(`no drain observed for a pod that ended with ${exitCode}`);
  const { drains } = addDrains(undefined, [drain.record], {
    recommend: (longest) => recommendGracePeriodFor(budget, longest),
  });
  return { exitCode, record: drain.record, drains, event: drainEvent(drain.record) };
}

const LONGER_GRACE = /grace period/i;

describe('each exit path of the real workload is classified by the operator', () => {
  test('drained: Clean, with what the drain completed', async () => {
    const producer = await startProducer('clean', GRACEFUL);
    const n = 20;
    await sendIncrements(producer.workload.baseUrl, n);
    producer.workload.signal('SIGTERM');
    const seen = await observe(producer);
    expect(seen.exitCode).toBe(EXIT_CODES.drained);
    expect(seen.record).toMatchObject({ outcome: 'Clean', pendingAtSignal: n, completed: n, abandoned: 0 });
    expect(seen.event).toMatchObject({ type: 'Normal', reason: 'Drained' });
    expect(seen.drains).toMatchObject({ observed: 1, clean: 1 });
    expect(await readCounter(redis, 'clean')).toBe(n);
  });

  test('hard mode: Hard, everything pending abandoned, no grace advice, no recommendation below the grace', async () => {
    const producer = await startProducer('hard', HARD);
    const n = 20;
    await sendIncrements(producer.workload.baseUrl, n);
    producer.workload.signal('SIGTERM');
    const seen = await observe(producer);
    expect(seen.exitCode).toBe(EXIT_CODES.hardSigterm);
    expect(seen.record).toMatchObject({ outcome: 'Hard', pendingAtSignal: n, abandoned: n });
    expect(seen.event.reason).toBe('HardExit');
    expect(seen.event.message).not.toMatch(LONGER_GRACE);
    expect(seen.drains).toMatchObject({ observed: 1, hard: 1, killed: 0, abandonedIncrements: n });
    expect(
      seen.drains.recommendedGracePeriodSeconds ?? producer.budget.gracePeriodSeconds,
    ).toBeGreaterThanOrEqual(producer.budget.gracePeriodSeconds);
  });

  test('SIGKILL (the grace period ran out): Killed, credited with the grace in force, advised a longer one', async () => {
    const producer = await startProducer('killed', GRACEFUL);
    await sendIncrements(producer.workload.baseUrl, 5);
    producer.workload.signal('SIGKILL');
    const seen = await observe(producer);
    expect(seen.exitCode).toBe(137);
    expect(seen.record).toMatchObject({
      outcome: 'Killed',
      drainSeconds: producer.budget.gracePeriodSeconds,
    });
    expect(seen.event).toMatchObject({ type: 'Warning', reason: 'DrainKilled' });
    expect(seen.event.message).toMatch(LONGER_GRACE);
    expect(seen.drains.recommendedGracePeriodSeconds).toBeGreaterThan(producer.budget.gracePeriodSeconds);
  });

  test('an uncaught exception while serving: Crashed, the pending count reported, no grace advice', async () => {
    // Work far longer than the test takes to crash the process: every increment is still pending.
    const producer = await startProducer(
      'crash-exception',
      { ...GRACEFUL, work: { durationSeconds: 5 } },
      { [WORKLOAD_ENV.testCrash]: 'exception' },
    );
    const n = 15;
    await sendIncrements(producer.workload.baseUrl, n);
    producer.workload.signal('SIGUSR2');
    const seen = await observe(producer);
    expect(seen.exitCode).toBe(EXIT_CODES.crashed);
    expect(producer.workload.terminationMessage()).toMatchObject({
      crash: 'uncaughtException',
      pending: n,
      abandoned: n,
      draining: false,
    });
    expect(seen.record).toMatchObject({ outcome: 'Crashed', pendingAtSignal: n, abandoned: n });
    expect(seen.record.crash).toMatch(/^uncaughtException: Error: test crash/);
    expect(seen.event).toMatchObject({ type: 'Warning', reason: 'DrainCrashed' });
    expect(seen.event.message).not.toMatch(LONGER_GRACE);
    expect(seen.drains).toMatchObject({ crashed: 1, killed: 0 });
    expect(producer.workload.logs.at(-1)).toMatchObject({ msg: 'exit', exitCode: EXIT_CODES.crashed });
  });

  test('an unhandled rejection in the middle of a drain: Crashed, reported as such', async () => {
    // Work longer than the test takes to signal twice, so increments are still pending at the crash.
    const producer = await startProducer(
      'crash-rejection',
      { ...GRACEFUL, work: { durationSeconds: 3 }, drain: { ...GRACEFUL.drain, marginSeconds: 5 } },
      { [WORKLOAD_ENV.testCrash]: 'rejection' },
    );
    await sendIncrements(producer.workload.baseUrl, 10);
    producer.workload.signal('SIGTERM');
    await producer.workload.waitForLog('signal received');
    producer.workload.signal('SIGUSR2');
    const seen = await observe(producer);
    expect(seen.exitCode).toBe(EXIT_CODES.crashed);
    const report = producer.workload.terminationMessage();
    expect(report).toMatchObject({ crash: 'unhandledRejection', draining: true, mode: 'graceful' });
    expect(Number(report.pending)).toBeGreaterThan(0);
    expect(seen.record.outcome).toBe('Crashed');
    expect(seen.event.message).not.toMatch(LONGER_GRACE);
  });

  // Last: it stops the file's Redis (and starts it again for whatever runs after).
  test('Redis down through the drain: the deadline passes, Abandoned, not Killed, no grace advice', async () => {
    const producer = await startProducer('abandoned', GRACEFUL);
    const n = 20;
    await sendIncrements(producer.workload.baseUrl, n);
    await redis.kill();
    try {
      producer.workload.signal('SIGTERM');
      const seen = await observe(producer);
      expect(seen.exitCode).toBe(EXIT_CODES.deadlinePassed);
      expect(seen.record).toMatchObject({ outcome: 'Abandoned', pendingAtSignal: n, abandoned: n });
      expect(seen.event).toMatchObject({ type: 'Warning', reason: 'DrainAbandonedWork' });
      expect(seen.event.message).not.toMatch(LONGER_GRACE);
      expect(seen.drains).toMatchObject({ observed: 1, abandoned: 1, killed: 0, abandonedIncrements: n });
      // The drain ran to the deadline the operator set (DRAIN_TIMEOUT_MS), as the report says.
      expect(seen.record.drainSeconds).toBeGreaterThanOrEqual(producer.budget.drainTimeoutSeconds);
    } finally {
      await redis.start();
    }
  });
});
