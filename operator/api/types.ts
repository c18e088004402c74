// The lastcall API as TypeScript: types derived from the TypeBox schemas (the one source of truth),
// the API coordinates, and defaulting for objects that did not come through the API server (the
// server applies the same schema defaults itself on create and on read).
import type { Static, TSchema } from '@sinclair/typebox';
import {
  type BUDGET_SOURCES,
  type BudgetStatusSchema,
  type CounterServiceSchema,
  CounterServiceSpecSchema,
  type CounterServiceStatusSchema,
  type DRAIN_MODES,
  type DRAIN_OUTCOMES,
  type DrainRecordSchema,
  type DrainsStatusSchema,
  type PHASES,
  type RolloutStatusSchema,
} from './counterservice.ts';
import { type DrainPolicySchema, DrainPolicySpecSchema } from './drainpolicy.ts';
import type { ConditionSchema } from './schema-helpers.ts';

export {
  BUDGET_SOURCES,
  DRAIN_MODES,
  DRAIN_OUTCOMES,
  LOG_LEVELS,
  PHASES,
  SERVICE_TYPES,
} from './counterservice.ts';

export const GROUP = 'lastcall.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const COUNTER_SERVICE_KIND = 'CounterService';
export const COUNTER_SERVICE_PLURAL = 'counterservices';
export const DRAIN_POLICY_KIND = 'DrainPolicy';
export const DRAIN_POLICY_PLURAL = 'drainpolicies';
/** The server-side apply field manager of every write the operator makes. */
export const FIELD_MANAGER = 'lastcall-operator';

/** Condition types written to CounterService status. */
export const CONDITION_TYPES = ['Ready', 'Progressing', 'Degraded', 'BudgetAccepted'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export type CounterService = Static<typeof CounterServiceSchema>;
export type CounterServiceSpec = Static<typeof CounterServiceSpecSchema>;
export type CounterServiceStatus = Static<typeof CounterServiceStatusSchema>;
export type BudgetStatus = Static<typeof BudgetStatusSchema>;
export type DrainsStatus = Static<typeof DrainsStatusSchema>;
export type DrainRecord = Static<typeof DrainRecordSchema>;
export type RolloutStatus = Static<typeof RolloutStatusSchema>;
export type Condition = Static<typeof ConditionSchema>;
export type DrainPolicy = Static<typeof DrainPolicySchema>;
export type DrainPolicySpec = Static<typeof DrainPolicySpecSchema>;
export type DrainMode = (typeof DRAIN_MODES)[number];
export type Phase = (typeof PHASES)[number];
export type BudgetSource = (typeof BUDGET_SOURCES)[number];
export type DrainOutcome = (typeof DRAIN_OUTCOMES)[number];

/**
 * A CounterService spec with the schema defaults filled in, the way the API server does it (which
 * it does on create and on every read, from the same schema): a field is defaulted only when absent,
 * an object default is used whole (never merged into a value the user gave), and defaults of nested
 * fields apply inside any object that is present. Objects read from the API server already have
 * them; this is for objects built in code and tests. Returns a new object.
 */
export function applyDefaults(spec: CounterServiceSpec): CounterServiceSpec;
export function applyDefaults(spec: unknown): CounterServiceSpec;
export function applyDefaults(spec: unknown): CounterServiceSpec {
  return defaultLikeApiServer(CounterServiceSpecSchema, structuredClone(spec)) as CounterServiceSpec;
}

/** A DrainPolicy spec with its schema defaults filled in. */
export function applyPolicyDefaults(spec: unknown): DrainPolicySpec {
  return defaultLikeApiServer(DrainPolicySpecSchema, structuredClone(spec)) as DrainPolicySpec;
}

function defaultLikeApiServer(schema: TSchema, value: unknown): unknown {
  if (value === undefined) return value;
  if (Array.isArray(value)) {
    return schema.items ? value.map((item) => defaultLikeApiServer(schema.items as TSchema, item)) : value;
  }
  if (value === null || typeof value !== 'object' || !schema.properties) return value;
  const obj = value as Record<string, unknown>;
  for (const [name, child] of Object.entries(schema.properties as Record<string, TSchema>)) {
    if (obj[name] === undefined && child.default !== undefined) obj[name] = structuredClone(child.default);
    if (obj[name] !== undefined) obj[name] = defaultLikeApiServer(child, obj[name]);
  }
  return obj;
}

/** The READY printer column value, "ready/desired" like kubectl's for Deployments. */
export function readyColumn(readyReplicas: number | undefined, desiredReplicas: number): string {
  return `${readyReplicas ?? 0}/${desiredReplicas}`;
}
