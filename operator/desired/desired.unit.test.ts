import { describe, expect, it } from 'vitest';
import { applyDefaults, type CounterService } from '../api/types.ts';
import { computeBudget } from '../budget.ts';
import { resolvePolicy } from '../policy.ts';
import {
  BUDGET_IN_FORCE_ANNOTATION,
  budgetInForce,
  desiredDeployment,
  desiredPodDisruptionBudget,
  desiredService,
  selectorString,
  type workloadEnv,
} from './index.ts';

const counterService = (spec: Record<string, unknown> = {}): CounterService => ({
  apiVersion: 'lastcall.dev/v1alpha1',
  kind: 'CounterService',
  metadata: { name: 'demo', namespace: 'team-a', uid: '0b7c-uid', generation: 1 },
  spec: applyDefaults({ image: 'lastcall/workload:v1', redis: { address: 'redis:6379' }, ...spec }),
});
const budgetOf = (cs: CounterService) => computeBudget(cs.spec, resolvePolicy([], 'team-a', {})).budget;
const envMap = (env: ReturnType<typeof workloadEnv>) =>
  Object.fromEntries(env.map((e) => [e.name, 'value' in e ? e.value : e.valueFrom]));

describe('owned objects: metadata', () => {
  it('are named after the CounterService, labelled, and controlled by it (deletion cascades)', () => {
    const cs = counterService();
    for (const obj of [
      desiredDeployment(cs, budgetOf(cs)),
      desiredService(cs),
      desiredPodDisruptionBudget(cs),
    ]) {
      expect(obj.metadata.name).toBe('demo');
      expect(obj.metadata.namespace).toBe('team-a');
      expect(obj.metadata.labels).toEqual({
        'app.kubernetes.io/name': 'counter',
        'app.kubernetes.io/instance': 'demo',
        'app.kubernetes.io/managed-by': 'lastcall',
        'lastcall.dev/counterservice': 'demo',
      });
      expect(obj.metadata.ownerReferences).toEqual([
        {
          apiVersion: 'lastcall.dev/v1alpha1',
          kind: 'CounterService',
          name: 'demo',
          uid: '0b7c-uid',
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
    }
    expect(selectorString(cs)).toBe('lastcall.dev/counterservice=demo');
  });

  it('refuses a CounterService without a uid (an owner reference needs one)', () => {
    const cs = counterService();
    cs.metadata.uid = undefined;
    expect(() => desiredService(cs)).toThrow(/metadata.uid is empty/);
  });
});

describe('desiredDeployment (Graceful)', () => {
  const cs = counterService({
    replicas: 3,
    work: { durationSeconds: 7 },
    redis: {
      address: 'redis.db:6379',
      key: 'hits',
      passwordSecretRef: { name: 'redis-auth', key: 'password' },
    },
    rollout: { maxSurge: '25%', maxUnavailable: 0, minReadySeconds: 4 },
    resources: { requests: { cpu: '100m' }, limits: { memory: '128Mi' } },
  });
  const budget = budgetOf(cs);
  const deployment = desiredDeployment(cs, budget);
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];

  it('carries the budget: grace period, native preStop sleep, drain deadline before SIGKILL', () => {
    expect(budget.gracePeriodSeconds).toBe(5 + 7 + 2 + 3);
    expect(pod.terminationGracePeriodSeconds).toBe(17);
    expect(container?.lifecycle).toEqual({ preStop: { sleep: { seconds: 5 } } });
    const env = envMap(container?.env ?? []);
    expect(env.DRAIN_TIMEOUT_MS).toBe('10000'); // 17 - 5 (preStop) - 2 (cleanup)
    expect(env.SHUTDOWN_DELAY_MS).toBe('0');
    expect(env.SHUTDOWN_MODE).toBe('graceful');
    expect(deployment.spec.template.metadata.annotations['lastcall.dev/grace-period-formula']).toBe(
      '5 + 7 + 2 + 3 = 17s',
    );
  });

  it('configures the workload through its environment', () => {
    expect(envMap(container?.env ?? [])).toEqual({
      PORT: '8080',
      REDIS_URL: 'redis://redis.db:6379',
      REDIS_PASSWORD: { secretKeyRef: { name: 'redis-auth', key: 'password' } },
      COUNTER_KEY: 'hits',
      WORK_DELAY_MS: '7000',
      SHUTDOWN_MODE: 'graceful',
      DRAIN_TIMEOUT_MS: '10000',
      SHUTDOWN_DELAY_MS: '0',
      TERMINATION_MESSAGE_PATH: '/dev/termination-log',
      LOG_LEVEL: 'info',
    });
  });

  it('follows spec.replicas and spec.rollout', () => {
    expect(deployment.spec.replicas).toBe(3);
    expect(deployment.spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 },
    });
    expect(deployment.spec.minReadySeconds).toBe(4);
    expect(deployment.spec.progressDeadlineSeconds).toBe(600);
    expect(deployment.spec.selector).toEqual({ matchLabels: { 'lastcall.dev/counterservice': 'demo' } });
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
  });

  it('probes /readyz and /healthz, with a startup probe', () => {
    expect(container?.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container?.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container?.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container?.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
  });

  it('runs under the restricted Pod Security Standard', () => {
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('passes resources through', () => {
    expect(container?.resources).toEqual({ requests: { cpu: '100m' }, limits: { memory: '128Mi' } });
  });

  it('is deterministic (server-side apply of the same input writes nothing)', () => {
    expect(JSON.stringify(desiredDeployment(cs, budgetOf(cs)))).toBe(JSON.stringify(deployment));
  });
});

describe('the budget in force, carried by the Deployment', () => {
  it('round-trips the whole budget through the annotation, outside the pod template', () => {
    const cs = counterService({ work: { durationSeconds: 7 } });
    const budget = budgetOf(cs);
    const deployment = desiredDeployment(cs, budget);
    expect(budgetInForce(deployment)).toEqual(budget);
    // On the Deployment's metadata only: a budget that changes only its wording must not roll pods.
    expect(deployment.spec.template.metadata.annotations).not.toHaveProperty(BUDGET_IN_FORCE_ANNOTATION);
  });

  it('is undefined for a Deployment without it or with something that is not a budget', () => {
    expect(budgetInForce(undefined)).toBeUndefined();
    expect(budgetInForce({ metadata: {} })).toBeUndefined();
    for (const text of ['', 'not json', 'null', '{"gracePeriodSeconds":"15"}', '[]'])
      expect(
        budgetInForce({ metadata: { annotations: { [BUDGET_IN_FORCE_ANNOTATION]: text } } }),
      ).toBeUndefined();
  });
});

describe('desiredDeployment (Graceful, propagation 0)', () => {
  it('has no preStop hook: `sleep: {seconds: 0}` is refused by API servers before 1.33', () => {
    const cs = counterService({ drain: { propagationSeconds: 0 } });
    const budget = budgetOf(cs);
    const pod = desiredDeployment(cs, budget).spec.template.spec;
    expect(budget.preStopSleepSeconds).toBe(0);
    expect(pod.containers[0]).not.toHaveProperty('lifecycle');
    expect(pod.terminationGracePeriodSeconds).toBe(0 + 5 + 2 + 3);
    expect(envMap(pod.containers[0]?.env ?? []).DRAIN_TIMEOUT_MS).toBe('8000');
  });
});

describe('desiredDeployment (Hard: the negative control)', () => {
  const cs = counterService({ drain: { mode: 'Hard' } });
  const budget = budgetOf(cs);
  const pod = desiredDeployment(cs, budget).spec.template.spec;
  const container = pod.containers[0];

  it('has no preStop hook, the default 30 s grace period and SHUTDOWN_MODE=hard', () => {
    expect(container).not.toHaveProperty('lifecycle');
    expect(pod.terminationGracePeriodSeconds).toBe(30);
    const env = envMap(container?.env ?? []);
    expect(env.SHUTDOWN_MODE).toBe('hard');
    expect(env).not.toHaveProperty('DRAIN_TIMEOUT_MS');
    expect(env).not.toHaveProperty('REDIS_PASSWORD');
  });
});

describe('desiredService', () => {
  it('defaults to ClusterIP on port 80 targeting the named container port', () => {
    const svc = desiredService(counterService());
    expect(svc.spec).toEqual({
      type: 'ClusterIP',
      selector: { 'lastcall.dev/counterservice': 'demo' },
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' }],
    });
  });

  it('sets nodePort only when given (otherwise the API server allocates and keeps it)', () => {
    expect(
      desiredService(counterService({ service: { type: 'NodePort', nodePort: 30080 } })).spec.ports[0],
    ).toEqual({
      name: 'http',
      protocol: 'TCP',
      port: 80,
      targetPort: 'http',
      nodePort: 30080,
    });
    expect(
      desiredService(counterService({ service: { type: 'NodePort' } })).spec.ports[0],
    ).not.toHaveProperty('nodePort');
  });
});

describe('desiredPodDisruptionBudget', () => {
  it.each([1, 3])('allows one voluntary eviction at a time with %i replica(s)', (replicas) => {
    const pdb = desiredPodDisruptionBudget(counterService({ replicas }));
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: { 'lastcall.dev/counterservice': 'demo' } },
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    });
  });
});
