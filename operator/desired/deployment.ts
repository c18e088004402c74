// The workload Deployment of a CounterService: pure, a plain object for server-side apply. Every
// field set here is owned by the operator's field manager, so a hand edit of it is put back; fields
// left out (e.g. revisionHistoryLimit) keep the API server's defaults and stay the user's to change.
import { secondsToMs, WORKLOAD_DEFAULTS, WORKLOAD_ENV } from '../../contracts/workload-env.ts';
import type { CounterService } from '../api/types.ts';
import type { Budget } from '../budget.ts';
import { ownedLabels, ownedMetadata, selectorLabels } from './labels.ts';

export const CONTAINER_NAME = 'counter';
export const CONTAINER_PORT = WORKLOAD_DEFAULTS.port;
const TERMINATION_MESSAGE_PATH = WORKLOAD_DEFAULTS.terminationMessagePath;
/** Non-root UID/GID of the workload: the "node" user the Dockerfile runs as (USER 1000:1000). */
const WORKLOAD_UID = 1000;
/** Annotation on the pod template recording the budget formula, for humans reading the pod. */
export const BUDGET_ANNOTATION = 'lastcall.dev/grace-period-formula';
/**
 * Annotation on the Deployment (not its pod template, so it never starts a rollout by itself)
 * holding the whole budget it was applied with, as JSON. When a later spec is refused, the status
 * reports this budget as the one in force: it is read from the object the pods come from, so it
 * stays right even when the status write that followed the last apply was lost to a conflict.
 */
export const BUDGET_IN_FORCE_ANNOTATION = 'lastcall.dev/budget-in-force';

/** The budget a live Deployment was applied with, or undefined when it carries none (or garbage). */
export function budgetInForce(
  deployment: { metadata: { annotations?: Record<string, string> } } | undefined,
) {
  const text = deployment?.metadata.annotations?.[BUDGET_IN_FORCE_ANNOTATION];
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as Partial<Budget> | null;
    return typeof parsed?.gracePeriodSeconds === 'number' && typeof parsed.formula === 'string'
      ? (parsed as Budget)
      : undefined;
  } catch {
    return undefined;
  }
}

type EnvVar =
  | { name: string; value: string }
  | { name: string; valueFrom: { secretKeyRef: { name: string; key: string } } };

export function desiredDeployment(cs: CounterService, budget: Budget) {
  const spec = cs.spec;
  const graceful = budget.mode === 'Graceful';
  const rollout = spec.rollout ?? {
    maxSurge: 1,
    maxUnavailable: 0,
    minReadySeconds: 0,
    progressDeadlineSeconds: 600,
  };

  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      ...ownedMetadata(cs),
      annotations: { [BUDGET_IN_FORCE_ANNOTATION]: JSON.stringify(budget) },
    },
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: selectorLabels(cs) },
      strategy: {
        type: 'RollingUpdate',
        rollingUpdate: { maxSurge: rollout.maxSurge, maxUnavailable: rollout.maxUnavailable },
      },
      minReadySeconds: rollout.minReadySeconds,
      progressDeadlineSeconds: rollout.progressDeadlineSeconds,
      template: {
        metadata: {
          labels: ownedLabels(cs),
          annotations: { [BUDGET_ANNOTATION]: budget.formula },
        },
        spec: {
          // The budget: counted by the kubelet from the deletion, preStop sleep included.
          terminationGracePeriodSeconds: budget.gracePeriodSeconds,
          // The workload never talks to the API server.
          automountServiceAccountToken: false,
          // Service links would add REDIS_PORT=tcp://... and friends for every Service in the namespace.
          enableServiceLinks: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: WORKLOAD_UID,
            runAsGroup: WORKLOAD_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: CONTAINER_NAME,
              image: spec.image,
              imagePullPolicy: spec.imagePullPolicy ?? 'IfNotPresent',
              ports: [{ name: 'http', containerPort: CONTAINER_PORT, protocol: 'TCP' }],
              env: workloadEnv(cs, budget),
              ...(graceful && budget.preStopSleepSeconds > 0
                ? {
                    // Native sleep action (KEP-3960: beta and on by default in Kubernetes 1.30, GA
                    // 1.34): keeps serving while the endpoint removal propagates; SIGTERM comes only
                    // after it. Needs no shell. `sleep: {seconds: 0}` is refused before 1.33
                    // (KEP-4818, PodLifecycleSleepActionAllowZero), so propagation 0 means no hook
                    // at all, which is what a 0 s sleep would do anyway: 1.30 is the minimum.
                    lifecycle: { preStop: { sleep: { seconds: budget.preStopSleepSeconds } } },
                  }
                : {}),
              // The workload writes its drain report (JSON) here; the operator reads it from the
              // container's terminated state.
              terminationMessagePath: TERMINATION_MESSAGE_PATH,
              terminationMessagePolicy: 'File',
              // Until ready the pod gets no traffic and a rollout does not count it available.
              readinessProbe: {
                httpGet: { path: '/readyz', port: 'http' },
                periodSeconds: 2,
                timeoutSeconds: 1,
                failureThreshold: 2,
                successThreshold: 1,
              },
              livenessProbe: {
                httpGet: { path: '/healthz', port: 'http' },
                periodSeconds: 10,
                timeoutSeconds: 2,
                failureThreshold: 3,
              },
              // Holds liveness off while Node starts (up to 30 s) instead of a long initialDelay.
              startupProbe: {
                httpGet: { path: '/healthz', port: 'http' },
                periodSeconds: 1,
                timeoutSeconds: 1,
                failureThreshold: 30,
              },
              resources: resourcesOf(cs),
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
            },
          ],
        },
      },
    },
  };
}

/**
 * The workload's environment, in the names and units of contracts/workload-env.ts (the workload
 * parses it with workload/config.ts). The order is part of the pod template: changing it would
 * roll every pod of every CounterService when the operator is upgraded.
 */
export function workloadEnv(cs: CounterService, budget: Budget): EnvVar[] {
  const spec = cs.spec;
  const E = WORKLOAD_ENV;
  const env: EnvVar[] = [
    { name: E.port, value: String(CONTAINER_PORT) },
    { name: E.redisUrl, value: `redis://${spec.redis.address}` },
  ];
  const secret = spec.redis.passwordSecretRef;
  if (secret) {
    env.push({ name: E.redisPassword, valueFrom: { secretKeyRef: { name: secret.name, key: secret.key } } });
  }
  env.push(
    { name: E.counterKey, value: spec.redis.key ?? WORKLOAD_DEFAULTS.counterKey },
    // The work term of the budget itself: the grace period covers exactly the work the pod does.
    { name: E.workDelayMs, value: String(secondsToMs(budget.terms.workSeconds)) },
  );
  if (budget.mode === 'Graceful') {
    env.push(
      { name: E.shutdownMode, value: 'graceful' },
      // Counted from SIGTERM, which comes after the preStop sleep: ends before SIGKILL.
      { name: E.drainTimeoutMs, value: String(secondsToMs(budget.drainTimeoutSeconds)) },
      // The preStop sleep already kept the pod serving through endpoint propagation.
      { name: E.shutdownDelayMs, value: '0' },
    );
  } else {
    // Hard: exit at SIGTERM, losing pending increments (the article's hard version).
    env.push({ name: E.shutdownMode, value: 'hard' });
  }
  env.push(
    { name: E.terminationMessagePath, value: TERMINATION_MESSAGE_PATH },
    { name: E.logLevel, value: spec.logLevel ?? WORKLOAD_DEFAULTS.logLevel },
  );
  return env;
}

function resourcesOf(cs: CounterService) {
  const r = cs.spec.resources ?? {};
  const out: { requests?: Record<string, string | number>; limits?: Record<string, string | number> } = {};
  if (r.requests && Object.keys(r.requests).length > 0) out.requests = { ...r.requests };
  if (r.limits && Object.keys(r.limits).length > 0) out.limits = { ...r.limits };
  return out;
}
