// Building blocks for structural CRD schemas in TypeBox. Each helper returns a schema that is valid
// as a Kubernetes structural schema (no anyOf with types except the int-or-string exception, no
// patternProperties) and that TypeBox can still use to derive the TypeScript type and defaults.
import { type TSchema, type TUnsafe, Type } from '@sinclair/typebox';
import type { ObjectMeta } from '../../kube/resources.ts';

interface FieldOptions {
  description: string;
  default?: unknown;
  [key: string]: unknown;
}

/** A CEL rule as the API server reads it (x-kubernetes-validations). */
interface CelRule {
  rule: string;
  message: string;
  /** A CEL expression for the message, so it can quote the values (`message` is the fallback). */
  messageExpression?: string;
  /** Relative JSON path of the field the message is about, e.g. `.maxUnavailable`. */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/**
 * A string limited to fixed values. TypeBox's Union of Literals becomes `anyOf` of `const`s, which a
 * structural schema forbids; `enum` on a string is what the API server expects.
 */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: FieldOptions,
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/**
 * An int-or-string (like a Deployment's maxSurge). The only `anyOf` with types a structural schema
 * allows is exactly this one, paired with `x-kubernetes-int-or-string: true`.
 */
export function IntOrString(options: FieldOptions): TUnsafe<number | string> {
  return Type.Unsafe<number | string>({
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    ...options,
  });
}

// The resource.Quantity grammar, as the Kubernetes API publishes it for ResourceRequirements.
const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

/** A resource quantity such as `100m`, `64Mi` or `1`. */
export function Quantity(options: FieldOptions): TUnsafe<number | string> {
  return IntOrString({ pattern: QUANTITY_PATTERN, ...options });
}

/**
 * The apiVersion, kind and metadata properties of a top-level resource schema. The API server allows
 * nothing but `type: object` for metadata in a CRD (metadata has a fixed schema it validates itself),
 * so only the TypeScript type says what it holds.
 */
export function resourceFields<const K extends string>(apiVersion: string, kind: K) {
  return {
    apiVersion: Type.Optional(Type.String({ description: apiVersion })),
    kind: Type.Optional(Type.String({ description: kind })),
    metadata: Type.Unsafe<ObjectMeta>({ type: 'object' }),
  };
}

/** Attach CEL rules to a schema (x-kubernetes-validations). */
export function withRules<T extends TSchema>(schema: T, rules: CelRule[]): T {
  return { ...schema, 'x-kubernetes-validations': rules };
}

/**
 * A metav1.Condition, as Kubernetes API conventions define it, listed as a map keyed by `type`
 * (`x-kubernetes-list-type: map`) so server-side apply merges conditions one by one.
 */
export const ConditionSchema = Type.Object(
  {
    type: Type.String({
      description: 'Type of condition in CamelCase, e.g. Ready, Progressing, Degraded, BudgetAccepted.',
      maxLength: 316,
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    }),
    status: StringEnum(['True', 'False', 'Unknown'] as const, {
      description: 'Status of the condition: True, False or Unknown.',
    }),
    observedGeneration: Type.Optional(
      Type.Integer({
        description: 'The .metadata.generation the condition was set for.',
        format: 'int64',
        minimum: 0,
      }),
    ),
    lastTransitionTime: Type.String({
      description: 'When the condition last changed from one status to another (RFC 3339).',
      format: 'date-time',
    }),
    reason: Type.String({
      description: 'A programmatic identifier in CamelCase for the last transition.',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
    message: Type.String({
      description: 'A human readable explanation of the last transition.',
      maxLength: 32768,
    }),
  },
  { description: 'One observation of the state of the resource, following Kubernetes API conventions.' },
);

/** A metav1.LabelSelector (matchLabels and matchExpressions). */
export const LabelSelectorSchema = Type.Object(
  {
    matchLabels: Type.Optional(
      Type.Unsafe<Record<string, string>>({
        type: 'object',
        description: 'Labels that must all be present with exactly these values.',
        additionalProperties: { type: 'string', maxLength: 63 },
        maxProperties: 32,
      }),
    ),
    matchExpressions: Type.Optional(
      Type.Array(
        Type.Object(
          {
            key: Type.String({ description: 'The label key the requirement applies to.', maxLength: 317 }),
            operator: StringEnum(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const, {
              description: 'How the key relates to the values: In, NotIn, Exists or DoesNotExist.',
            }),
            values: Type.Optional(
              Type.Array(Type.String({ description: 'A label value.', maxLength: 63 }), {
                description:
                  'Values for In and NotIn (non-empty); must be empty for Exists and DoesNotExist.',
                maxItems: 64,
              }),
            ),
          },
          {
            description: 'A label requirement.',
            'x-kubernetes-validations': [
              {
                rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
                message: 'values must be non-empty for In and NotIn and empty for Exists and DoesNotExist',
                fieldPath: '.values',
              },
            ],
          },
        ),
        { description: 'Label requirements that must all hold.', maxItems: 32 },
      ),
    ),
  },
  {
    description:
      'A label selector; the requirements of matchLabels and matchExpressions are ANDed. An empty selector matches everything.',
    'x-kubernetes-map-type': 'atomic',
  },
);
