// The REST coordinates of the lastcall kinds (for reflectors, applies, status writes and tests),
// beside the schemas they name. Values come from constants.ts only: the operator process imports
// this module, and it must not load TypeBox (runtime-imports.unit.test.ts).
import type { ResourceType } from '../../kube/resources.ts';
import {
  COUNTER_SERVICE_KIND,
  COUNTER_SERVICE_PLURAL,
  DRAIN_POLICY_KIND,
  DRAIN_POLICY_PLURAL,
  GROUP,
  VERSION,
} from './constants.ts';

export const counterServiceType: ResourceType = {
  group: GROUP,
  version: VERSION,
  plural: COUNTER_SERVICE_PLURAL,
  kind: COUNTER_SERVICE_KIND,
  namespaced: true,
};

/** Cluster-scoped: an admin's defaults and bounds for the namespaces it selects. */
export const drainPolicyType: ResourceType = {
  group: GROUP,
  version: VERSION,
  plural: DRAIN_POLICY_PLURAL,
  kind: DRAIN_POLICY_KIND,
  namespaced: false,
};
