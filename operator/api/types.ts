// The lastcall API as TypeScript: types derived from the TypeBox schemas (the one source of truth)
// and defaulting for objects that did not come through the API server (the server applies the same
// schema defaults itself on create and on read). This module loads the schemas, and with them
// TypeBox: the operator's runtime imports only types from here (`import type`, erased) and its
// values from constants.ts.
import type { Static, TSchema } from '@sinclair/typebox';
import {
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

export type CounterService = Static<typeof CounterServiceSchema>;
export type CounterServiceSpec = Static<typeof CounterServiceSpecSchema>;
export type CounterServiceStatus = Static<typeof CounterServiceStatusSchema>;
export type BudgetStatus = Static<typeof BudgetStatusSchema>;
export type DrainsStatus = Static<typeof DrainsStatusSchema>;
export type DrainRecord = Static<typeof DrainRecordSchema>;
export type RolloutStatus = Static<typeof RolloutStatusSchema>;
export type Condition = Static<typeof ConditionSchema>;
export type DrainPolicy = Static<typeof DrainPolicySchema>;
type DrainPolicySpec = Static<typeof DrainPolicySpecSchema>;
export type DrainMode = (typeof DRAIN_MODES)[number];
export type Phase = (typeof PHASES)[number];
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
