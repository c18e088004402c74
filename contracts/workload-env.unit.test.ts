// The workload-environment contract, producer against consumer: for every budget the operator
// accepts (a grid over the budget terms, the override and the modes, through the real budget and
// desired-Deployment functions), the environment it sets parses in the workload's own config, and
// the parsed values keep the budget's promises.
import { expect, test } from 'vitest';
import { applyDefaults, type CounterService } from '../operator/api/types.ts';
import { computeBudget } from '../operator/budget.ts';
import { desiredDeployment } from '../operator/desired/index.ts';
import { BUILT_IN_POLICY_NAME, resolvePolicy } from '../operator/policy.ts';
import { parseConfig } from '../workload/config.ts';
import {
  INCREMENT_LATENCY_ALLOWANCE_MS,
  LOG_LEVELS,
  WORKLOAD_DEFAULTS,
  WORKLOAD_ENV,
} from './workload-env.ts';

const WORK = [0, 1, 5, 600];
const PROPAGATION = [0, 5, 120];
const CLEANUP = [1, 2, 120];
const MARGIN = [0, 3, 300];
const MODES = ['Graceful', 'Hard'] as const;

/** Every combination; the override: none, the smallest the CRD's rule allows (propagation + 3), the largest. */
function* grid(): Generator<Record<string, unknown>> {
  for (const work of WORK)
    for (const propagation of PROPAGATION)
      for (const cleanup of CLEANUP)
        for (const margin of MARGIN)
          for (const mode of MODES)
            for (const override of [undefined, propagation + 3, 3600]) {
              yield {
                work: { durationSeconds: work },
                drain: {
                  mode,
                  propagationSeconds: propagation,
                  cleanupSeconds: cleanup,
                  marginSeconds: margin,
                  ...(override === undefined ? {} : { gracePeriodSecondsOverride: override }),
                },
              };
            }
}

function counterService(spec: Record<string, unknown>, i: number): CounterService {
  return {
    apiVersion: 'lastcall.dev/v1alpha1',
    kind: 'CounterService',
    metadata: { name: `cs-${i}`, namespace: 'team-a', uid: `uid-${i}`, generation: 1 },
    spec: applyDefaults({
      image: 'lastcall/workload:v1',
      redis: {
        address: i % 2 === 0 ? 'redis.team-a.svc.cluster.local:6379' : '[fd00::1]:6380',
        key: `lastcall:counter-${i}`,
        ...(i % 3 === 0 ? { passwordSecretRef: { name: 'redis', key: 'password' } } : {}),
      },
      logLevel: LOG_LEVELS[i % LOG_LEVELS.length],
      ...spec,
    }),
  };
}

/** The container env as the kubelet would hand it over (a Secret reference resolved to a value). */
function processEnv(cs: CounterService, deployment: ReturnType<typeof desiredDeployment>) {
  const container = deployment.spec.template.spec.containers[0];
  const env: Record<string, string> = {};
  for (const variable of container?.env ?? []) {
    env[variable.name] = 'value' in variable ? variable.value : `secret-of-${cs.metadata.name}`;
  }
  return env;
}

test('the operator env for every accepted budget parses in the workload config and keeps the budget', () => {
  const policy = resolvePolicy([], 'team-a', {});
  expect(policy.name).toBe(BUILT_IN_POLICY_NAME);
  const problems: string[] = [];
  let accepted = 0;
  let refused = 0;
  let i = 0;
  for (const spec of grid()) {
    const cs = counterService(spec, i++);
    const decision = computeBudget(cs.spec, policy);
    if (!decision.accepted) {
      refused++;
      continue;
    }
    accepted++;
    const { budget } = decision;
    const deployment = desiredDeployment(cs, budget);
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    const label = `${budget.mode} ${budget.formula} (work ${budget.terms.workSeconds}s)`;
    const parsed = parseConfig(processEnv(cs, deployment));
    if (!parsed.ok) {
      problems.push(`${label}: refused ${JSON.stringify(parsed.issues)}`);
      continue;
    }
    const config = parsed.config;
    const expected: Record<string, unknown> = {
      workDelayMs: budget.terms.workSeconds * 1000,
      counterKey: cs.spec.redis.key,
      redisUrl: `redis://${cs.spec.redis.address}`,
      redisPassword: cs.spec.redis.passwordSecretRef ? `secret-of-${cs.metadata.name}` : undefined,
      logLevel: cs.spec.logLevel,
      terminationMessagePath: container?.terminationMessagePath,
      port: container?.ports[0]?.containerPort,
      shutdownMode: budget.mode === 'Hard' ? 'hard' : 'graceful',
    };
    if (budget.mode === 'Graceful') {
      // The preStop sleep serves while endpoints update; the workload must not add to it.
      expected.shutdownDelayMs = 0;
      expected.drainTimeoutMs = budget.drainTimeoutSeconds * 1000;
      // The deadline plus the second the workload allows itself to close Redis ends before the
      // kubelet's SIGKILL: max(grace - preStop sleep, 2) after SIGTERM (pkg/kubelet/kuberuntime).
      const sigkillAfterMs =
        Math.max(pod.terminationGracePeriodSeconds - budget.preStopSleepSeconds, 2) * 1000;
      if (config.drainTimeoutMs + 1000 > sigkillAfterMs) {
        problems.push(
          `${label}: DRAIN_TIMEOUT_MS ${config.drainTimeoutMs} + 1 s is past SIGKILL at ${sigkillAfterMs} ms`,
        );
      }
      // Honest: an increment the workload accepted just before SIGTERM (work plus its own latency
      // allowance, which is what it checks before answering 200 while draining) ends before the deadline.
      if (config.drainTimeoutMs < config.workDelayMs + INCREMENT_LATENCY_ALLOWANCE_MS) {
        problems.push(
          `${label}: DRAIN_TIMEOUT_MS ${config.drainTimeoutMs} cannot cover WORK_DELAY_MS ${config.workDelayMs} + ${INCREMENT_LATENCY_ALLOWANCE_MS} ms`,
        );
      }
    }
    for (const [field, value] of Object.entries(expected)) {
      const actual = config[field as keyof typeof config];
      if (actual !== value)
        problems.push(`${label}: ${field} is ${String(actual)}, expected ${String(value)}`);
    }
  }
  expect(problems).toEqual([]);
  // Not vacuous: most combinations are accepted, and some are refused by the budget itself
  // (an override below the work, a margin of 0 that leaves no room for the workload's latency).
  expect(accepted).toBeGreaterThan(300);
  expect(refused).toBeGreaterThan(0);
});

test('what the workload assumes for an unset variable is what the contract says', () => {
  const parsed = parseConfig({});
  expect(parsed.ok && parsed.config).toMatchObject({
    port: WORKLOAD_DEFAULTS.port,
    host: WORKLOAD_DEFAULTS.host,
    redisUrl: WORKLOAD_DEFAULTS.redisUrl,
    counterKey: WORKLOAD_DEFAULTS.counterKey,
    workDelayMs: WORKLOAD_DEFAULTS.workDelayMs,
    shutdownMode: WORKLOAD_DEFAULTS.shutdownMode,
    shutdownDelayMs: WORKLOAD_DEFAULTS.shutdownDelayMs,
    terminationMessagePath: WORKLOAD_DEFAULTS.terminationMessagePath,
    logLevel: WORKLOAD_DEFAULTS.logLevel,
  });
});

test('the operator sets only variables of the contract', () => {
  const cs = counterService({}, 0);
  const decision = computeBudget(cs.spec, resolvePolicy([], 'team-a', {}));
  const names = Object.keys(processEnv(cs, desiredDeployment(cs, decision.budget)));
  const contract: string[] = Object.values(WORKLOAD_ENV);
  expect(names.filter((name) => !contract.includes(name))).toEqual([]);
});
