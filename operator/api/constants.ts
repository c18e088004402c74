// The coordinates of the lastcall API and the names the operator writes with. Plain values with no
// imports: the operator's runtime reads these, and loading the TypeBox schema modules just for a
// group name would cost the process about 16 MB (200 TypeBox modules) it never uses. The schemas,
// the CRDs and the types derived from them import these too, so each name is written once.

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
