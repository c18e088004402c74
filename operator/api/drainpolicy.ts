// DrainPolicy: cluster-scoped defaults and bounds for the shutdown budget of CounterServices. Cluster
// admins own it (it is cluster-scoped, so namespace tenants cannot write it); teams own their
// CounterServices. See docs/api.md for why a cluster-scoped resource and how several combine.
import { Type } from '@sinclair/typebox';
import { API_VERSION, DRAIN_POLICY_KIND } from './constants.ts';
import {
  DRAIN_MODES,
  drainTermSchema,
  LATENCY_ALLOWANCE_SECONDS,
  REDIS_ADDRESS_PATTERN_GLOB,
} from './counterservice.ts';
import { LabelSelectorSchema, resourceFields, StringEnum, withRules } from './schema-helpers.ts';

const DrainPolicyDefaultsSchema = withRules(
  Type.Object(
    {
      propagationSeconds: drainTermSchema(
        'propagationSeconds',
        'Default spec.drain.propagationSeconds (the preStop sleep) of matching CounterServices.',
      ),
      cleanupSeconds: drainTermSchema(
        'cleanupSeconds',
        'Default spec.drain.cleanupSeconds of matching CounterServices (at least 1: exiting takes time).',
      ),
      marginSeconds: drainTermSchema(
        'marginSeconds',
        'Default spec.drain.marginSeconds of matching CounterServices.',
      ),
    },
    {
      description:
        'Values used where a CounterService leaves the field unset. Each field comes from the highest-priority matching policy that sets it.',
    },
  ),
  [
    {
      // A computed drain deadline is work + margin: margin 0 would abandon what the workload
      // accepted in its last INCREMENT_LATENCY_ALLOWANCE_MS before SIGTERM, on every rollout.
      rule: `!has(self.marginSeconds) || self.marginSeconds >= ${LATENCY_ALLOWANCE_SECONDS}`,
      message: `marginSeconds must be at least ${LATENCY_ALLOWANCE_SECONDS}: the drain deadline is work + margin, and the workload needs time beyond the work for its own latency`,
      fieldPath: '.marginSeconds',
      reason: 'FieldValueInvalid',
    },
  ],
);

const DrainPolicyBoundsSchema = withRules(
  Type.Object(
    {
      minGracePeriodSeconds: Type.Optional(
        Type.Integer({
          description: 'Smallest terminationGracePeriodSeconds allowed. Unset: 1.',
          minimum: 1,
          maximum: 3600,
          format: 'int32',
        }),
      ),
      maxGracePeriodSeconds: Type.Optional(
        Type.Integer({
          description:
            'Largest terminationGracePeriodSeconds allowed (it bounds how long a node drain or rollout can wait for one pod). Unset: 3600.',
          minimum: 1,
          maximum: 3600,
          format: 'int32',
        }),
      ),
      minPropagationSeconds: Type.Optional(
        Type.Integer({
          description:
            "Smallest propagationSeconds allowed, e.g. the time this cluster's ingress needs to drop an endpoint. Unset: 0.",
          minimum: 0,
          maximum: 120,
          format: 'int32',
        }),
      ),
    },
    {
      description:
        'Limits a CounterService must respect. A CounterService outside them is refused (BudgetAccepted=False and a Warning event), never clamped. The bounds come as a whole from the highest-priority matching policy that has bounds.',
    },
  ),
  [
    {
      rule: '!has(self.minGracePeriodSeconds) || !has(self.maxGracePeriodSeconds) || self.minGracePeriodSeconds <= self.maxGracePeriodSeconds',
      message: 'minGracePeriodSeconds must not exceed maxGracePeriodSeconds',
      fieldPath: '.minGracePeriodSeconds',
      reason: 'FieldValueInvalid',
    },
  ],
);

export const DrainPolicySpecSchema = Type.Object(
  {
    namespaceSelector: Type.Optional(
      Type.Object(LabelSelectorSchema.properties, {
        'x-kubernetes-map-type': 'atomic',
        description:
          'Namespaces whose CounterServices this policy applies to. Unset: every namespace. Select one namespace by name with the label kubernetes.io/metadata.name.',
      }),
    ),
    priority: Type.Integer({
      description:
        'Precedence when several policies match a namespace: higher wins; equal priorities are ordered by name.',
      default: 0,
      minimum: 0,
      maximum: 1000,
      format: 'int32',
    }),
    defaults: Type.Optional(DrainPolicyDefaultsSchema),
    bounds: Type.Optional(DrainPolicyBoundsSchema),
    maxConcurrentRollouts: Type.Optional(
      Type.Integer({
        description:
          'How many of the CounterServices this policy governs may roll out at once when a policy change alters ' +
          'their pod templates (a new grace period, preStop sleep or drain deadline). The others keep their pods ' +
          'and the budget in force (Progressing=True, reason RolloutQueued) until one of those rolling settles. ' +
          'Rollouts of any cause count; a user spec change is never held back. From the highest-priority matching ' +
          'policy that sets it. Unset: all at once.',
        minimum: 1,
        maximum: 1000,
        format: 'int32',
      }),
    ),
    allowedRedisAddresses: Type.Optional(
      Type.Array(
        Type.String({
          description:
            'A pattern host:port. In the host, * stands for one DNS label (no dots) and ** for any run of labels; ' +
            'a port of * allows any port. E.g. redis.shared.svc.cluster.local:6379, *.cache.svc:6379, 10.0.0.5:6379, **:*.',
          minLength: 3,
          maxLength: 261,
          'x-kubernetes-validations': [
            {
              rule: `self.matches(r'${REDIS_ADDRESS_PATTERN_GLOB}')`,
              message:
                'must be host:port, where the host may use * (one DNS label) or ** (any labels) and the port may be *',
            },
          ],
        }),
        {
          description:
            'Redis addresses (spec.redis.address) CounterServices may name in addition to a Service of their own ' +
            'namespace (name:port, name.<namespace>:port, name.<namespace>.svc[.cluster.local]:port), which is always allowed. ' +
            'A CounterService naming anything else is refused (Degraded=True, reason RedisAddressNotAllowed): the workload ' +
            'would send it the password from spec.redis.passwordSecretRef. From the highest-priority matching policy that ' +
            'sets it, as a whole. Unset: only the own namespace.',
          maxItems: 64,
          'x-kubernetes-list-type': 'set',
        },
      ),
    ),
    allowedModes: Type.Optional(
      Type.Array(StringEnum(DRAIN_MODES, { description: 'A drain mode: Graceful or Hard.' }), {
        description:
          'Drain modes CounterServices may use. Unset: both. Leave out Hard to forbid the negative control (which loses work) in production namespaces.',
        minItems: 1,
        maxItems: 2,
        'x-kubernetes-list-type': 'set',
      }),
    ),
  },
  {
    description:
      'Defaults and bounds of the shutdown budget for the CounterServices of the selected namespaces.',
  },
);

export const DrainPolicySchema = Type.Object(
  {
    ...resourceFields(API_VERSION, DRAIN_POLICY_KIND),
    spec: DrainPolicySpecSchema,
  },
  {
    description:
      'Cluster-wide defaults and bounds for the shutdown budget of CounterServices, set by cluster admins.',
  },
);
