// Names and labels of the objects a CounterService owns (docs/architecture.md).
import { API_VERSION, COUNTER_SERVICE_KIND } from '../api/constants.ts';
import type { CounterService } from '../api/types.ts';

export const COUNTER_SERVICE_LABEL = 'lastcall.dev/counterservice';
const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
const MANAGED_BY = 'lastcall';
/** Matches every object ownedLabels() labels: the operator watches only those. */
export const OWNED_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;

/** Labels on every owned object and on the pods. */
export function ownedLabels(cs: CounterService): Record<string, string> {
  const name = nameOf(cs);
  return {
    'app.kubernetes.io/name': 'counter',
    'app.kubernetes.io/instance': name,
    [MANAGED_BY_LABEL]: MANAGED_BY,
    [COUNTER_SERVICE_LABEL]: name,
  };
}

/**
 * The pod selector of the Deployment, Service and PDB. One label only: a Deployment's selector is
 * immutable, so it must never depend on anything but the CounterService's name.
 */
export function selectorLabels(cs: CounterService): Record<string, string> {
  return { [COUNTER_SERVICE_LABEL]: nameOf(cs) };
}

/** The selector as a string, for status.selector (the scale subresource's labelSelectorPath). */
export function selectorString(cs: CounterService): string {
  return Object.entries(selectorLabels(cs))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/**
 * The controller reference that makes the garbage collector delete owned objects with the
 * CounterService. blockOwnerDeletion lets a foreground deletion wait for them; the API server lets
 * only a client that may update counterservices/finalizers set it (OwnerReferencesPermissionEnforcement),
 * hence that rule in config/rbac.
 */
export function controllerRef(cs: CounterService) {
  const uid = cs.metadata.uid;
  if (!uid)
    throw new Error(
      `CounterService ${cs.metadata.namespace}/${nameOf(cs)}: metadata.uid is empty; read it from the API server first`,
    );
  return {
    apiVersion: API_VERSION,
    kind: COUNTER_SERVICE_KIND,
    name: nameOf(cs),
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function ownedMetadata(cs: CounterService) {
  return {
    name: nameOf(cs),
    namespace: namespaceOf(cs),
    labels: ownedLabels(cs),
    ownerReferences: [controllerRef(cs)],
  };
}

function nameOf(cs: CounterService): string {
  const name = cs.metadata.name;
  if (!name) throw new Error('CounterService metadata.name is empty');
  return name;
}

function namespaceOf(cs: CounterService): string {
  const ns = cs.metadata.namespace;
  if (!ns) throw new Error(`CounterService ${cs.metadata.name}: metadata.namespace is empty`);
  return ns;
}
