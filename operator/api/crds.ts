// The CustomResourceDefinitions, built from the TypeBox schemas. Pure: generate-crds.ts writes them
// to crds/*.yaml and a unit test checks the checked-in files are not stale.
import type { TSchema } from '@sinclair/typebox';
import {
  COUNTER_SERVICE_KIND,
  COUNTER_SERVICE_PLURAL,
  DRAIN_POLICY_KIND,
  DRAIN_POLICY_PLURAL,
  GROUP,
  VERSION,
} from './constants.ts';
import { CounterServiceSchema } from './counterservice.ts';
import { DrainPolicySchema } from './drainpolicy.ts';

/**
 * The JSON Schema as the API server wants it: TypeBox's symbol markers and `$id`s dropped, object
 * keys in a stable order (so the generated YAML diff stays small).
 */
function toOpenApiSchema(schema: TSchema): Record<string, unknown> {
  return sortKeys(describeDefaults(optionalWhenDefaulted(JSON.parse(JSON.stringify(schema))))) as Record<
    string,
    unknown
  >;
}

/**
 * `kubectl explain` prints descriptions but not defaults: append "Default: x." to the description
 * of every field with a scalar default whose description does not already mention it.
 */
function describeDefaults(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(describeDefaults);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) out[k] = describeDefaults(v);
  const { default: value, description } = out;
  if (
    typeof description === 'string' &&
    (typeof value === 'number' || typeof value === 'string') &&
    !/\bdefault\b/i.test(description)
  ) {
    out.description = `${description} Default: ${value}.`;
  }
  return out;
}

/**
 * A field with a default is not required of the user: the API server fills it in before it
 * validates. TypeBox lists it as required so that the TypeScript type (what the operator reads back
 * from the API server, defaults applied) has it; the CRD must not, or `kubectl explain` would mark
 * it -required-.
 */
function optionalWhenDefaulted(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(optionalWhenDefaulted);
  if (node === null || typeof node !== 'object') return node;
  const obj = node as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = optionalWhenDefaulted(v);
  const props = obj.properties as Record<string, Record<string, unknown>> | undefined;
  if (props && Array.isArray(obj.required)) {
    const required = (obj.required as string[]).filter((name) => props[name]?.default === undefined);
    if (required.length > 0) out.required = required;
    else delete out.required;
  }
  return out;
}

const KEY_ORDER = ['description', 'type', 'format', 'default'];
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>).filter(([k]) => k !== '$id');
  entries.sort(([a], [b]) => {
    const ia = KEY_ORDER.indexOf(a);
    const ib = KEY_ORDER.indexOf(b);
    if (ia !== -1 || ib !== -1) return (ia === -1 ? 99 : ia) - (ib === -1 ? 99 : ib);
    // `properties` keeps its declared order (kubectl explain lists fields in it); others sort.
    return 0;
  });
  return Object.fromEntries(entries.map(([k, v]) => [k, k === 'properties' ? sortProps(v) : sortKeys(v)]));
}
function sortProps(props: unknown): unknown {
  return Object.fromEntries(
    Object.entries(props as Record<string, unknown>).map(([k, v]) => [k, sortKeys(v)]),
  );
}

/**
 * A CustomResourceDefinition of the lastcall group, in category `lastcall`, with one version that
 * is served and stored; `version` holds the rest of that version (schema, subresources, columns).
 */
function lastcallCrd<V extends object>(
  names: { kind: string; plural: string; singular: string; shortNames: string[] },
  scope: 'Namespaced' | 'Cluster',
  version: V,
) {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${names.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'lastcall', 'app.kubernetes.io/part-of': 'lastcall' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: names.kind,
        listKind: `${names.kind}List`,
        plural: names.plural,
        singular: names.singular,
        shortNames: names.shortNames,
        categories: ['lastcall'],
      },
      scope,
      versions: [{ name: VERSION, served: true, storage: true, ...version }],
    },
  };
}

export function counterServiceCrd() {
  return lastcallCrd(
    {
      kind: COUNTER_SERVICE_KIND,
      plural: COUNTER_SERVICE_PLURAL,
      singular: 'counterservice',
      // 'cs' is the contract's short name, but clusters that still serve the deprecated core
      // ComponentStatus resolve `kubectl get cs` to it (core wins); 'csvc' always works.
      shortNames: ['cs', 'csvc'],
    },
    'Namespaced',
    {
      schema: { openAPIV3Schema: requireSpec(toOpenApiSchema(CounterServiceSchema)) },
      subresources: {
        status: {},
        // `kubectl scale cs/demo --replicas=3` and HorizontalPodAutoscalers go through this.
        scale: {
          specReplicasPath: '.spec.replicas',
          statusReplicasPath: '.status.replicas',
          labelSelectorPath: '.status.selector',
        },
      },
      additionalPrinterColumns: [
        {
          name: 'Ready',
          type: 'string',
          description: 'Ready pods / desired pods.',
          jsonPath: '.status.ready',
        },
        {
          name: 'Grace',
          type: 'integer',
          description: 'terminationGracePeriodSeconds of the pods (the shutdown budget).',
          jsonPath: '.status.budget.gracePeriodSeconds',
        },
        { name: 'Image', type: 'string', description: 'The workload image.', jsonPath: '.spec.image' },
        {
          name: 'Phase',
          type: 'string',
          description: 'Summary of the state.',
          jsonPath: '.status.phase',
        },
        {
          name: 'Mode',
          type: 'string',
          description: 'Drain mode: Graceful or Hard.',
          jsonPath: '.spec.drain.mode',
          priority: 1,
        },
        {
          name: 'Formula',
          type: 'string',
          description: 'How the grace period was computed.',
          jsonPath: '.status.budget.formula',
          priority: 1,
        },
        {
          name: 'Killed',
          type: 'integer',
          description: 'Pods that were killed before they finished draining.',
          jsonPath: '.status.drains.killed',
          priority: 1,
        },
        { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      ],
    },
  );
}

export function drainPolicyCrd() {
  return lastcallCrd(
    { kind: DRAIN_POLICY_KIND, plural: DRAIN_POLICY_PLURAL, singular: 'drainpolicy', shortNames: ['dp'] },
    'Cluster',
    {
      schema: { openAPIV3Schema: requireSpec(toOpenApiSchema(DrainPolicySchema)) },
      additionalPrinterColumns: [
        { name: 'Priority', type: 'integer', description: 'Precedence.', jsonPath: '.spec.priority' },
        {
          name: 'Propagation',
          type: 'integer',
          description: 'Default propagationSeconds.',
          jsonPath: '.spec.defaults.propagationSeconds',
        },
        {
          name: 'Min-Grace',
          type: 'integer',
          description: 'Smallest grace period allowed.',
          jsonPath: '.spec.bounds.minGracePeriodSeconds',
        },
        {
          name: 'Max-Grace',
          type: 'integer',
          description: 'Largest grace period allowed.',
          jsonPath: '.spec.bounds.maxGracePeriodSeconds',
        },
        { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      ],
    },
  );
}

/** spec is required at the top level (the TypeBox root lists it; keep it explicit for readers). */
function requireSpec(schema: Record<string, unknown>): Record<string, unknown> {
  const required = new Set([...((schema.required as string[] | undefined) ?? []), 'spec']);
  required.delete('metadata');
  return { ...schema, required: [...required] };
}

export function allCrds() {
  return [
    { file: `${GROUP}_${COUNTER_SERVICE_PLURAL}.yaml`, crd: counterServiceCrd() },
    { file: `${GROUP}_${DRAIN_POLICY_PLURAL}.yaml`, crd: drainPolicyCrd() },
  ];
}
