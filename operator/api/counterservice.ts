// The CounterService resource: the one source of truth for its CRD schema (crds/), its TypeScript
// type and its defaults. Descriptions are what `kubectl explain counterservice.spec...` prints.
import { Type } from '@sinclair/typebox';
import { INCREMENT_LATENCY_ALLOWANCE_MS, LOG_LEVELS } from '../../contracts/workload-env.ts';
import { API_VERSION, COUNTER_SERVICE_KIND } from './constants.ts';
import {
  ConditionSchema,
  IntOrString,
  Quantity,
  resourceFields,
  StringEnum,
  withRules,
} from './schema-helpers.ts';

export const DRAIN_MODES = ['Graceful', 'Hard'] as const;
const SERVICE_TYPES = ['ClusterIP', 'NodePort'] as const;
// The workload's LOG_LEVEL values (contracts/workload-env.ts), offered as spec.logLevel.

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
export const PHASES = ['Pending', 'Progressing', 'Ready', 'Degraded', 'Rejected'] as const;
const BUDGET_SOURCES = ['computed', 'override', 'kubernetes-default'] as const;
export const DRAIN_OUTCOMES = ['Clean', 'Abandoned', 'Killed', 'Hard', 'Crashed', 'Unknown'] as const;

// An image reference: [registry[:port]/]path[:tag][@sha256:digest], with a tag or a digest required
// so that every rollout is a deliberate change of image (an untagged image means :latest, which
// changes under a running Deployment without a rollout).
const IMAGE_PATTERN =
  '^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(:[0-9]+)?/)?' +
  '[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*' +
  '((:[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127})(@sha256:[a-f0-9]{64})?|@sha256:[a-f0-9]{64})$';

// host:port where host is a DNS name, an IPv4 address or a bracketed IPv6 address and the port is
// 1-65535.
const REDIS_ADDRESS_PATTERN =
  '^([a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?|\\[[0-9a-fA-F:.]+\\]):' +
  '([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$';

// A DrainPolicy's allowed Redis address: like REDIS_ADDRESS_PATTERN, but a host label may be * or
// ** and the port may be *.
export const REDIS_ADDRESS_PATTERN_GLOB =
  '^([a-zA-Z0-9*]([a-zA-Z0-9.*-]*[a-zA-Z0-9*])?|\\[[0-9a-fA-F:.]+\\]):' +
  '(\\*|[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$';

/**
 * The budget terms a DrainPolicy can default, with their bounds. A CounterService's field and the
 * policy default for it are the same quantity, so both schemas take the bounds from here.
 */
const DRAIN_TERM_BOUNDS = {
  propagationSeconds: { minimum: 0, maximum: 120 },
  cleanupSeconds: { minimum: 1, maximum: 120 },
  marginSeconds: { minimum: 0, maximum: 300 },
} as const;

/** An optional budget term in whole seconds (spec.drain.* and DrainPolicy spec.defaults.*). */
export function drainTermSchema(term: keyof typeof DRAIN_TERM_BOUNDS, description: string) {
  return Type.Optional(Type.Integer({ description, ...DRAIN_TERM_BOUNDS[term], format: 'int32' }));
}

const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const PERCENT_OR_INT = "type(self) == int ? self >= 0 && self <= 1000 : self.matches('^(100|[1-9]?[0-9])%$')";
const IS_ZERO = (f: string) => `(type(self.${f}) == int ? self.${f} == 0 : self.${f} == '0%')`;

const SecretKeyRefSchema = Type.Object(
  {
    name: Type.String({
      description: 'Name of a Secret in the namespace of the CounterService.',
      minLength: 1,
      maxLength: 253,
      pattern: DNS_SUBDOMAIN,
    }),
    key: Type.String({
      description: 'Key inside the Secret whose value is the Redis password.',
      minLength: 1,
      maxLength: 253,
      pattern: '^[-._a-zA-Z0-9]+$',
    }),
  },
  { description: 'A key of a Secret in the same namespace.' },
);

const RedisSpecSchema = Type.Object(
  {
    address: Type.String({
      description:
        'Redis endpoint as host:port, e.g. redis:6379 or redis.<namespace>.svc:6379: a Service of the ' +
        "CounterService's own namespace. Any other address must be allowed by a DrainPolicy (allowedRedisAddresses), " +
        'since the workload sends it the password from passwordSecretRef; otherwise the CounterService is refused ' +
        '(Degraded=True, reason RedisAddressNotAllowed).',
      maxLength: 261,
      'x-kubernetes-validations': [
        {
          rule: `self.matches(r'${REDIS_ADDRESS_PATTERN}')`,
          message:
            'must be host:port with a DNS name, IPv4 or [IPv6] host and a port from 1 to 65535, e.g. redis:6379',
        },
      ],
    }),
    key: Type.String({
      description:
        'The Redis key holding the counter. CounterServices sharing an address and key share a count.',
      default: 'counter',
      minLength: 1,
      maxLength: 256,
      pattern: '^[A-Za-z0-9:_.{}-]+$',
    }),
    passwordSecretRef: Type.Optional(
      Type.Object(SecretKeyRefSchema.properties, {
        description:
          'The Redis password, read from a Secret key and passed to the workload as REDIS_PASSWORD.',
      }),
    ),
  },
  { description: 'Where the workload keeps its counter.' },
);

const WorkSpecSchema = Type.Object(
  {
    durationSeconds: Type.Integer({
      description:
        'Simulated work per request, in seconds: /incr answers at once and increments the counter this much later. ' +
        'It is the longest work a pod can have in flight, so it is a term of the grace period.',
      default: 5,
      minimum: 0,
      maximum: 600,
      format: 'int32',
    }),
  },
  { description: 'The work each request starts.', default: {} },
);

const DrainSpecSchema = withRules(
  Type.Object(
    {
      mode: StringEnum(DRAIN_MODES, {
        description:
          'Graceful: a preStop sleep keeps the pod serving while endpoints update, then the workload drains ' +
          'in-flight work before the computed grace period ends. Hard: the negative control of the experiment ' +
          '(no preStop hook, SHUTDOWN_MODE=hard, Kubernetes default grace period of 30s); loses in-flight work. Default: Graceful.',
        default: 'Graceful',
      }),
      propagationSeconds: drainTermSchema(
        'propagationSeconds',
        'Seconds the pod keeps serving after its deletion starts, while kube-proxy, ingresses and load ' +
          'balancers learn that its endpoint is gone: the length of the native preStop sleep. ' +
          'Unset: the DrainPolicy default (built-in 5).',
      ),
      cleanupSeconds: drainTermSchema(
        'cleanupSeconds',
        'Seconds reserved after in-flight work for closing connections and writing the termination message; ' +
          "the workload's drain deadline ends this long before SIGKILL, so at least 1. " +
          'Unset: the DrainPolicy default (built-in 2).',
      ),
      marginSeconds: drainTermSchema(
        'marginSeconds',
        'Safety margin added to the grace period for slow nodes and scheduling jitter. ' +
          'Unset: the DrainPolicy default (built-in 3).',
      ),
      gracePeriodSecondsOverride: Type.Optional(
        Type.Integer({
          description:
            'Use this terminationGracePeriodSeconds instead of the computed one. Must exceed propagationSeconds + 2 ' +
            'and lie within the DrainPolicy bounds; a value outside them is refused (condition BudgetAccepted=False), ' +
            'never clamped.',
          minimum: 3,
          maximum: 3600,
          format: 'int32',
        }),
      ),
    },
    {
      description:
        'How pods shut down. The grace period is propagationSeconds + work.durationSeconds + cleanupSeconds + ' +
        'marginSeconds unless overridden; status.budget shows each term.',
      default: {},
    },
  ),
  [
    {
      rule: '!has(self.gracePeriodSecondsOverride) || self.gracePeriodSecondsOverride > (has(self.propagationSeconds) ? self.propagationSeconds : 0) + 2',
      message:
        'gracePeriodSecondsOverride must exceed propagationSeconds + 2: the grace period includes the preStop sleep and the workload needs time to drain after SIGTERM',
      fieldPath: '.gracePeriodSecondsOverride',
      reason: 'FieldValueInvalid',
    },
  ],
);

const RolloutSpecSchema = withRules(
  Type.Object(
    {
      maxSurge: IntOrString({
        description:
          'Pods created above the desired replicas during a rollout: a number or a percentage (e.g. 25%). ' +
          'Default 1 keeps full capacity while old pods drain.',
        default: 1,
        maxLength: 4,
        'x-kubernetes-validations': [
          { rule: PERCENT_OR_INT, message: 'must be an integer 0-1000 or a percentage 0%-100%' },
        ],
      }),
      maxUnavailable: IntOrString({
        description:
          'Pods that may be unavailable during a rollout: a number or a percentage. Default 0: a pod is only ' +
          'removed after its replacement is ready.',
        default: 0,
        maxLength: 4,
        'x-kubernetes-validations': [
          { rule: PERCENT_OR_INT, message: 'must be an integer 0-1000 or a percentage 0%-100%' },
        ],
      }),
      minReadySeconds: Type.Integer({
        description:
          'Seconds a new pod must be ready before it counts as available, giving load balancers time to pick it ' +
          'up before the next old pod goes.',
        default: 0,
        minimum: 0,
        maximum: 3600,
        format: 'int32',
      }),
      progressDeadlineSeconds: Type.Integer({
        description:
          'Seconds a rollout may make no progress before it is reported as failed (Progressing=False).',
        default: 600,
        minimum: 1,
        maximum: 7200,
        format: 'int32',
      }),
    },
    { description: 'The rolling update strategy of the Deployment.', default: {} },
  ),
  [
    {
      rule: `!(has(self.maxSurge) && has(self.maxUnavailable) && ${IS_ZERO('maxSurge')} && ${IS_ZERO('maxUnavailable')})`,
      message: 'maxSurge and maxUnavailable must not both be 0: the rollout could never replace a pod',
      messageExpression:
        "'maxSurge (' + string(self.maxSurge) + ') and maxUnavailable (' + string(self.maxUnavailable) + ') must not both be 0: the rollout could never replace a pod'",
      fieldPath: '.maxUnavailable',
      reason: 'FieldValueInvalid',
    },
    {
      rule: '!has(self.progressDeadlineSeconds) || !has(self.minReadySeconds) || self.progressDeadlineSeconds > self.minReadySeconds',
      message: 'progressDeadlineSeconds must be greater than minReadySeconds',
      fieldPath: '.progressDeadlineSeconds',
      reason: 'FieldValueInvalid',
    },
  ],
);

const ServiceSpecSchema = withRules(
  Type.Object(
    {
      type: StringEnum(SERVICE_TYPES, {
        description: 'ClusterIP (reachable inside the cluster) or NodePort (also on every node at nodePort).',
        default: 'ClusterIP',
      }),
      port: Type.Integer({
        description: 'The Service port; it forwards to the workload container port 8080 (named http).',
        default: 80,
        minimum: 1,
        maximum: 65535,
        format: 'int32',
      }),
      nodePort: Type.Optional(
        Type.Integer({
          description: 'Fixed node port for type NodePort (30000-32767). Unset: the API server picks one.',
          minimum: 30000,
          maximum: 32767,
          format: 'int32',
        }),
      ),
    },
    { description: 'The Service in front of the pods.', default: {} },
  ),
  [
    {
      rule: "self.type == 'NodePort' || !has(self.nodePort)",
      message: 'nodePort may only be set when type is NodePort',
      fieldPath: '.nodePort',
      reason: 'FieldValueForbidden',
    },
  ],
);

const ResourceListSchema = (what: string) =>
  Type.Object(
    {
      cpu: Type.Optional(Quantity({ description: `CPU ${what}, e.g. 100m or 1.` })),
      memory: Type.Optional(Quantity({ description: `Memory ${what}, e.g. 64Mi.` })),
    },
    { description: `Compute resource ${what}.` },
  );

const ResourcesSpecSchema = Type.Object(
  {
    requests: Type.Optional(ResourceListSchema('requests (what the scheduler reserves)')),
    limits: Type.Optional(ResourceListSchema('limits (the most the container may use)')),
  },
  {
    description:
      'Compute resources of the workload container. The default applies only when resources is left out as a ' +
      'whole, so a partial setting never mixes with defaults (e.g. a default limit below a request).',
    default: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
  },
);

/**
 * Whole seconds of drain deadline an increment accepted just before SIGTERM needs beyond its work:
 * the workload's own latency allowance (INCREMENT_LATENCY_ALLOWANCE_MS), rounded up since the
 * deadline is whole seconds. operator/budget.ts makes the same check with policy defaults included.
 */
export const LATENCY_ALLOWANCE_SECONDS = Math.ceil(INCREMENT_LATENCY_ALLOWANCE_MS / 1000);

export const CounterServiceSpecSchema = withRules(
  Type.Object(
    {
      replicas: Type.Integer({
        description:
          'Desired number of pods. Also set by `kubectl scale` and a HorizontalPodAutoscaler (scale subresource).',
        default: 1,
        minimum: 0,
        maximum: 1000,
        format: 'int32',
      }),
      image: Type.String({
        description:
          'The workload image with a tag or digest, e.g. lastcall/workload:v1. Changing it starts a rolling update.',
        minLength: 1,
        maxLength: 512,
        // A CEL rule rather than `pattern`, so the error explains itself instead of quoting the regex.
        'x-kubernetes-validations': [
          {
            rule: `self.matches(r'${IMAGE_PATTERN}')`,
            message:
              'must be an image reference with a tag or a digest, e.g. lastcall/workload:v1 or registry.example:5000/team/app@sha256:<64 hex>',
          },
        ],
      }),
      imagePullPolicy: StringEnum(PULL_POLICIES, {
        description: 'When the kubelet pulls the image: Always, IfNotPresent or Never.',
        default: 'IfNotPresent',
      }),
      redis: RedisSpecSchema,
      work: WorkSpecSchema,
      drain: DrainSpecSchema,
      rollout: RolloutSpecSchema,
      service: ServiceSpecSchema,
      resources: ResourcesSpecSchema,
      logLevel: StringEnum(LOG_LEVELS, {
        description: 'Log level of the workload (LOG_LEVEL).',
        default: 'info',
      }),
    },
    { description: 'The desired state of the counter service.' },
  ),
  [
    // Honest budgets, where the spec alone decides (terms left to a DrainPolicy are checked by
    // the operator, which reports BudgetAccepted=False/DrainTimeoutTooShort). The drain deadline
    // is grace - propagation - cleanup; it must cover the work plus the workload's latency.
    {
      rule:
        "self.drain.mode == 'Hard' || has(self.drain.gracePeriodSecondsOverride) || !has(self.drain.marginSeconds) || " +
        `self.drain.marginSeconds >= ${LATENCY_ALLOWANCE_SECONDS}`,
      message: `marginSeconds must be at least ${LATENCY_ALLOWANCE_SECONDS}: the drain deadline is work + margin, and the workload needs ${INCREMENT_LATENCY_ALLOWANCE_MS} ms beyond the work for its own latency`,
      fieldPath: '.drain.marginSeconds',
      reason: 'FieldValueInvalid',
    },
    {
      rule:
        "self.drain.mode == 'Hard' || !has(self.drain.gracePeriodSecondsOverride) || !has(self.drain.propagationSeconds) || " +
        '!has(self.drain.cleanupSeconds) || !has(self.work.durationSeconds) || ' +
        `self.drain.gracePeriodSecondsOverride - self.drain.propagationSeconds - self.drain.cleanupSeconds >= self.work.durationSeconds + ${LATENCY_ALLOWANCE_SECONDS}`,
      // A static message: a messageExpression over the spec exceeds the CRD's CEL cost budget.
      message: `gracePeriodSecondsOverride must be at least propagationSeconds + cleanupSeconds + work.durationSeconds + ${LATENCY_ALLOWANCE_SECONDS}: the drain deadline (override - propagationSeconds - cleanupSeconds) must cover the work plus the workload's latency allowance of ${INCREMENT_LATENCY_ALLOWANCE_MS} ms`,
      fieldPath: '.drain.gracePeriodSecondsOverride',
      reason: 'FieldValueInvalid',
    },
  ],
);

const BudgetTermsSchema = Type.Object(
  {
    propagationSeconds: Type.Integer({
      description: 'The preStop sleep while endpoints update.',
      minimum: 0,
    }),
    workSeconds: Type.Integer({ description: 'The longest work a pod can have in flight.', minimum: 0 }),
    cleanupSeconds: Type.Integer({
      description: 'Time reserved for closing connections after the work.',
      minimum: 0,
    }),
    marginSeconds: Type.Integer({ description: 'Safety margin.', minimum: 0 }),
  },
  { description: 'The terms the grace period is the sum of.' },
);

export const BudgetStatusSchema = Type.Object(
  {
    mode: StringEnum(DRAIN_MODES, { description: 'The drain mode the budget was computed for.' }),
    gracePeriodSeconds: Type.Integer({
      description: 'The terminationGracePeriodSeconds set on the pods.',
      minimum: 0,
      format: 'int64',
    }),
    preStopSleepSeconds: Type.Integer({
      description: 'The native preStop sleep (0 and no hook in Hard mode).',
      minimum: 0,
      format: 'int64',
    }),
    drainTimeoutSeconds: Type.Integer({
      description:
        "The workload's own drain deadline (DRAIN_TIMEOUT_MS), counted from SIGTERM: grace period - preStop sleep - " +
        'exit reserve, so the workload gives up and exits before the kubelet sends SIGKILL.',
      minimum: 0,
      format: 'int64',
    }),
    source: StringEnum(BUDGET_SOURCES, {
      description:
        'computed (the formula), override (spec.drain.gracePeriodSecondsOverride) or kubernetes-default (Hard mode).',
    }),
    policy: Type.String({
      description:
        'The DrainPolicy (or policies, joined by +) that supplied defaults and bounds; built-in if none.',
      maxLength: 1024,
    }),
    terms: BudgetTermsSchema,
    formula: Type.String({ description: 'The sum as text, e.g. "5 + 5 + 2 + 3 = 15s".', maxLength: 256 }),
    bounds: Type.Object(
      {
        minSeconds: Type.Integer({ description: 'Smallest grace period the policy allows.', minimum: 0 }),
        maxSeconds: Type.Integer({ description: 'Largest grace period the policy allows.', minimum: 0 }),
      },
      { description: 'The grace period bounds of the policy.' },
    ),
  },
  { description: 'The shutdown budget: the grace period and why it is what it is.' },
);

export const DrainRecordSchema = Type.Object(
  {
    pod: Type.String({ description: 'Name of the pod that terminated.', maxLength: 253 }),
    podUID: Type.Optional(
      Type.String({
        description:
          'UID of the pod that terminated. A drain is counted once per pod UID: a pod re-created under the same name is a new drain. Unset in records written before it was recorded.',
        maxLength: 128,
      }),
    ),
    finishedAt: Type.Optional(
      Type.String({ description: 'When its container terminated (RFC 3339).', format: 'date-time' }),
    ),
    outcome: StringEnum(DRAIN_OUTCOMES, {
      description:
        'Clean (exit 0, nothing abandoned), Abandoned (the drain deadline passed: exit 1, the increments given up ' +
        'counted), Killed (SIGKILL, exit 137: the grace period ran out, or the OOM killer), Hard (exited at SIGTERM ' +
        'without draining, as Hard mode does), Crashed (an uncaught error: exit 70 with a crash report, or a ' +
        'failing exit with no report) or Unknown.',
    }),
    exitCode: Type.Optional(
      Type.Integer({ description: 'Exit code of the workload container.', format: 'int32' }),
    ),
    reason: Type.Optional(
      Type.String({ description: 'Termination reason reported by the kubelet.', maxLength: 256 }),
    ),
    drainSeconds: Type.Optional(
      Type.Number({ description: 'Seconds from SIGTERM to exit, from the termination message.', minimum: 0 }),
    ),
    pendingAtSignal: Type.Optional(
      Type.Integer({ description: 'Work in flight when SIGTERM arrived.', minimum: 0, format: 'int64' }),
    ),
    completed: Type.Optional(
      Type.Integer({ description: 'Work completed during the drain.', minimum: 0, format: 'int64' }),
    ),
    abandoned: Type.Optional(
      Type.Integer({ description: 'Work given up (increments lost).', minimum: 0, format: 'int64' }),
    ),
    crash: Type.Optional(
      Type.String({
        description: 'For a Crashed drain: what crashed the workload, from its crash report.',
        maxLength: 256,
      }),
    ),
  },
  { description: 'What one terminated pod reported.' },
);

export const DrainsStatusSchema = Type.Object(
  {
    observed: Type.Integer({ description: 'Pod terminations observed.', minimum: 0, format: 'int64' }),
    clean: Type.Integer({
      description: 'Terminations that exited 0 with nothing abandoned.',
      minimum: 0,
      format: 'int64',
    }),
    killed: Type.Integer({
      description:
        'Terminations killed by SIGKILL (exit 137) before they finished draining: the only outcome a longer grace period can change.',
      minimum: 0,
      format: 'int64',
    }),
    abandoned: Type.Optional(
      Type.Integer({
        description: 'Terminations whose drain deadline passed with increments still pending (exit 1).',
        minimum: 0,
        format: 'int64',
      }),
    ),
    hard: Type.Optional(
      Type.Integer({
        description: 'Terminations that exited at SIGTERM without draining (Hard mode).',
        minimum: 0,
        format: 'int64',
      }),
    ),
    crashed: Type.Optional(
      Type.Integer({
        description: 'Terminations that ended in a crash (exit 70, or a failing exit with no report).',
        minimum: 0,
        format: 'int64',
      }),
    ),
    abandonedIncrements: Type.Integer({
      description: 'Increments the workloads reported as abandoned.',
      minimum: 0,
      format: 'int64',
    }),
    longestDrainSeconds: Type.Optional(
      Type.Number({ description: 'The longest drain observed, SIGTERM to exit, in seconds.', minimum: 0 }),
    ),
    recommendedGracePeriodSeconds: Type.Optional(
      Type.Integer({
        description:
          'A grace period derived from the observed drains (propagation + longest drain + margin). Killed ' +
          'drains count as the whole grace in force after the preStop sleep; Hard and Crashed drains do not ' +
          'count; in Hard mode it is never below the grace in force.',
        minimum: 0,
        format: 'int64',
      }),
    ),
    recent: Type.Optional(
      Type.Array(DrainRecordSchema, {
        description: 'The most recent terminations, newest first.',
        maxItems: 20,
      }),
    ),
    countedPods: Type.Optional(
      Type.Array(Type.String({ description: 'A pod UID.', maxLength: 128 }), {
        description:
          'UIDs of counted pods that may still be seen again (they existed at the last count), so that no ' +
          'pod is counted twice however many drain at once. A UID leaves once its pod is gone.',
        maxItems: 10000,
      }),
    ),
  },
  { description: 'What the operator observed as pods of this CounterService terminated.' },
);

export const RolloutStatusSchema = Type.Object(
  {
    fromImage: Type.Optional(Type.String({ description: 'Image before the rollout.', maxLength: 512 })),
    toImage: Type.String({ description: 'Image the rollout moved to.', maxLength: 512 }),
    startedAt: Type.String({
      description: 'When the operator applied the new image (RFC 3339).',
      format: 'date-time',
    }),
    completedAt: Type.Optional(
      Type.String({
        description: 'When every pod ran the new image and was available (RFC 3339).',
        format: 'date-time',
      }),
    ),
  },
  { description: 'The last image change.' },
);

export const CounterServiceStatusSchema = Type.Object(
  {
    observedGeneration: Type.Optional(
      Type.Integer({
        description: 'The .metadata.generation this status reflects.',
        minimum: 0,
        format: 'int64',
      }),
    ),
    replicas: Type.Optional(
      Type.Integer({
        description: 'Pods of the Deployment (scale subresource).',
        minimum: 0,
        format: 'int32',
      }),
    ),
    readyReplicas: Type.Optional(Type.Integer({ description: 'Ready pods.', minimum: 0, format: 'int32' })),
    updatedReplicas: Type.Optional(
      Type.Integer({ description: 'Pods running the current spec.', minimum: 0, format: 'int32' }),
    ),
    availableReplicas: Type.Optional(
      Type.Integer({ description: 'Pods ready for at least minReadySeconds.', minimum: 0, format: 'int32' }),
    ),
    ready: Type.Optional(
      Type.String({
        description: 'Ready pods out of desired, as "ready/desired" (the READY column).',
        maxLength: 32,
      }),
    ),
    selector: Type.Optional(
      Type.String({
        description: 'Label selector of the pods, for the scale subresource and HPAs.',
        maxLength: 1024,
      }),
    ),
    phase: Type.Optional(
      StringEnum(PHASES, {
        description:
          'Summary for humans: Pending, Progressing (rollout under way), Ready, Degraded or Rejected (budget refused). ' +
          'Programs should read conditions.',
      }),
    ),
    conditions: Type.Optional(
      Type.Array(ConditionSchema, {
        description: 'Ready, Progressing, Degraded and BudgetAccepted, following Kubernetes API conventions.',
        maxItems: 16,
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      }),
    ),
    budget: Type.Optional(BudgetStatusSchema),
    drains: Type.Optional(DrainsStatusSchema),
    lastRollout: Type.Optional(RolloutStatusSchema),
  },
  { description: 'The observed state, written by the operator.' },
);

export const CounterServiceSchema = Type.Object(
  {
    ...resourceFields(API_VERSION, COUNTER_SERVICE_KIND),
    spec: CounterServiceSpecSchema,
    status: Type.Optional(CounterServiceStatusSchema),
  },
  {
    description:
      'A counter service: the workload Deployment, its Service and PodDisruptionBudget, run with a shutdown budget ' +
      'computed so that rolling updates lose no work.',
    'x-kubernetes-validations': [
      {
        rule: "size(self.metadata.name) <= 63 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
        message:
          'metadata.name must be a DNS-1035 label (lowercase letters, digits and -, starting with a letter, at most 63 characters) because it also names the Service',
        reason: 'FieldValueInvalid',
      },
    ],
  },
);
