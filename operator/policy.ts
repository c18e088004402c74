// Which DrainPolicy applies to a namespace, and how several combine into one EffectivePolicy.
//
// Combination rule (documented in docs/api.md):
//  - A policy matches a namespace when it has no namespaceSelector or its selector matches the
//    namespace's labels (Kubernetes sets kubernetes.io/metadata.name on every namespace, so admins
//    can select namespaces by name; we add it here too in case the caller's labels lack it).
//  - Matching policies are ordered by spec.priority (high first), then by name (stable, so the
//    result never depends on list order).
//  - Each default (propagationSeconds, cleanupSeconds, marginSeconds) comes from the first policy in
//    that order that sets it. Bounds come as a whole from the first policy that has spec.bounds, so
//    a min from one policy never meets a max from another (they could contradict). allowedModes
//    likewise, and maxConcurrentRollouts. Whatever no matching policy sets comes from BUILT_IN_POLICY.
// Higher-priority policies can therefore loosen as well as tighten: a "batch" policy with priority
// 10 may allow longer grace periods in the batch namespaces than the priority-0 cluster default.
import type { DrainMode, DrainPolicy } from './api/types.ts';

export const BUILT_IN_POLICY_NAME = 'built-in';

/** The defaults and bounds a CounterService is budgeted with. */
export interface EffectivePolicy {
  /** For status and messages: the contributing policies joined by '+', or 'built-in'. */
  name: string;
  /** Names of the contributing policies, highest precedence first (empty: built-in only). */
  policies: string[];
  propagationSeconds: number;
  cleanupSeconds: number;
  marginSeconds: number;
  minGracePeriodSeconds: number;
  maxGracePeriodSeconds: number;
  minPropagationSeconds: number;
  allowedModes: DrainMode[];
  /**
   * How many CounterServices under `policy` may roll out at once when a policy change alters their
   * pod templates; undefined: no limit. Not a budget term, so not in `name` or `sources`: a policy
   * that only sets it does not change any CounterService's budget.
   */
  rolloutLimit?: { policy: string; maxConcurrent: number };
  /**
   * Redis addresses allowed beyond a Service of the CounterService's own namespace (patterns, see
   * redisAddressRefusal), from `policy`; undefined: only the own namespace. Not a budget term either.
   */
  redisAddresses?: { policy: string; allowed: string[] };
  /** Which policy supplied each value ('built-in' when none did). */
  sources: Record<EffectivePolicyField, string>;
}

export type EffectivePolicyField =
  | 'propagationSeconds'
  | 'cleanupSeconds'
  | 'marginSeconds'
  | 'bounds'
  | 'allowedModes';

/** Defaults when no DrainPolicy matches: the seed experiment's figures (5 s propagation). */
export const BUILT_IN_POLICY: Readonly<Omit<EffectivePolicy, 'name' | 'policies' | 'sources'>> =
  Object.freeze({
    // Endpoint removal reaches kube-proxy within about a second on a quiet cluster; ingresses and
    // cloud load balancers take several. 5 s covers the common case.
    propagationSeconds: 5,
    // Closing the Redis client and writing the termination message.
    cleanupSeconds: 2,
    marginSeconds: 3,
    minGracePeriodSeconds: 1,
    maxGracePeriodSeconds: 3600,
    minPropagationSeconds: 0,
    allowedModes: ['Graceful', 'Hard'] as DrainMode[],
  });

type LabelSelector = NonNullable<DrainPolicy['spec']['namespaceSelector']>;

/** Does a label selector match these labels (metav1.LabelSelector semantics; empty matches all). */
export function selectorMatches(
  selector: LabelSelector | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, req.key);
    const value = labels[req.key];
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        if (!has || !values.includes(value as string)) return false;
        break;
      case 'NotIn':
        // As in Kubernetes: NotIn matches when the key is absent.
        if (has && values.includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** Does this policy apply to CounterServices in this namespace? */
export function policyMatchesNamespace(
  policy: DrainPolicy,
  namespace: string,
  namespaceLabels: Record<string, string>,
): boolean {
  if (policy.metadata.deletionTimestamp) return false;
  const labels = { 'kubernetes.io/metadata.name': namespace, ...namespaceLabels };
  return selectorMatches(policy.spec.namespaceSelector, labels);
}

/** Policy precedence: higher spec.priority first, then name ascending. */
function comparePolicies(a: DrainPolicy, b: DrainPolicy): number {
  const byPriority = (b.spec.priority ?? 0) - (a.spec.priority ?? 0);
  if (byPriority !== 0) return byPriority;
  const an = a.metadata.name ?? '';
  const bn = b.metadata.name ?? '';
  return an < bn ? -1 : an > bn ? 1 : 0;
}

/** The effective defaults and bounds for CounterServices in `namespace`. */
export function resolvePolicy(
  policies: readonly DrainPolicy[],
  namespace: string,
  namespaceLabels: Record<string, string>,
): EffectivePolicy {
  const matching = policies
    .filter((p) => policyMatchesNamespace(p, namespace, namespaceLabels))
    .sort(comparePolicies);

  const sources: Record<EffectivePolicyField, string> = {
    propagationSeconds: BUILT_IN_POLICY_NAME,
    cleanupSeconds: BUILT_IN_POLICY_NAME,
    marginSeconds: BUILT_IN_POLICY_NAME,
    bounds: BUILT_IN_POLICY_NAME,
    allowedModes: BUILT_IN_POLICY_NAME,
  };
  const pickDefault = (field: 'propagationSeconds' | 'cleanupSeconds' | 'marginSeconds'): number => {
    for (const p of matching) {
      const v = p.spec.defaults?.[field];
      if (v !== undefined) {
        sources[field] = p.metadata.name ?? '';
        return v;
      }
    }
    return BUILT_IN_POLICY[field];
  };

  const propagationSeconds = pickDefault('propagationSeconds');
  const cleanupSeconds = pickDefault('cleanupSeconds');
  const marginSeconds = pickDefault('marginSeconds');

  const boundsFrom = matching.find((p) => p.spec.bounds !== undefined);
  if (boundsFrom) sources.bounds = boundsFrom.metadata.name ?? '';
  const bounds = boundsFrom?.spec.bounds ?? {};

  const modesFrom = matching.find((p) => p.spec.allowedModes !== undefined && p.spec.allowedModes.length > 0);
  if (modesFrom) sources.allowedModes = modesFrom.metadata.name ?? '';

  const limitFrom = matching.find((p) => p.spec.maxConcurrentRollouts !== undefined);
  const redisFrom = matching.find((p) => p.spec.allowedRedisAddresses !== undefined);

  const contributing = matching
    .map((p) => p.metadata.name ?? '')
    .filter((n) => Object.values(sources).includes(n));

  return {
    name: contributing.length > 0 ? contributing.join('+') : BUILT_IN_POLICY_NAME,
    policies: contributing,
    propagationSeconds,
    cleanupSeconds,
    marginSeconds,
    minGracePeriodSeconds: bounds.minGracePeriodSeconds ?? BUILT_IN_POLICY.minGracePeriodSeconds,
    maxGracePeriodSeconds: bounds.maxGracePeriodSeconds ?? BUILT_IN_POLICY.maxGracePeriodSeconds,
    minPropagationSeconds: bounds.minPropagationSeconds ?? BUILT_IN_POLICY.minPropagationSeconds,
    allowedModes: [...(modesFrom?.spec.allowedModes ?? BUILT_IN_POLICY.allowedModes)],
    ...(limitFrom?.spec.maxConcurrentRollouts !== undefined
      ? {
          rolloutLimit: {
            policy: limitFrom.metadata.name ?? '',
            maxConcurrent: limitFrom.spec.maxConcurrentRollouts,
          },
        }
      : {}),
    ...(redisFrom?.spec.allowedRedisAddresses !== undefined
      ? {
          redisAddresses: {
            policy: redisFrom.metadata.name ?? '',
            allowed: [...redisFrom.spec.allowedRedisAddresses],
          },
        }
      : {}),
    sources,
  };
}

// A Service name: a DNS-1035 label.
const SERVICE_NAME = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** host and port of `host:port` (host may be a bracketed IPv6 address), lower-cased. */
function splitAddress(address: string): { host: string; port: string } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).toLowerCase(), port: address.slice(colon + 1) };
}

/**
 * Is `host` a Service of `namespace`, as the pod's resolver finds it: `name` (the pod's search
 * list starts with <namespace>.svc.<cluster domain>), `name.<namespace>`,
 * `name.<namespace>.svc` or `name.<namespace>.svc.cluster.local`?
 */
export function isOwnNamespaceService(host: string, namespace: string): boolean {
  const [name = '', ...rest] = host.toLowerCase().split('.');
  if (!SERVICE_NAME.test(name)) return false;
  const suffix = rest.join('.');
  return (
    suffix === '' ||
    suffix === namespace ||
    suffix === `${namespace}.svc` ||
    suffix === `${namespace}.svc.cluster.local`
  );
}

/** Does `address` match the pattern (host labels * or **, port *)? Case-insensitive. */
export function redisAddressMatches(pattern: string, address: string): boolean {
  const want = splitAddress(pattern);
  const have = splitAddress(address);
  if (want.port !== '*' && want.port !== have.port) return false;
  const source = want.host
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((text) => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^.]*'),
    )
    .join('.*');
  return new RegExp(`^${source}$`).test(have.host);
}

/**
 * Why `address` (spec.redis.address of a CounterService in `namespace`) is not allowed, or
 * undefined when it is. The workload sends the Redis password (spec.redis.passwordSecretRef, a
 * Secret of the namespace) to that address, so whoever may create a CounterService could otherwise
 * send any Secret of the namespace to any host: by default only a Service of the namespace itself
 * is allowed, and a DrainPolicy (cluster admins) may allow more.
 */
export function redisAddressRefusal(
  address: string,
  namespace: string,
  policy: Pick<EffectivePolicy, 'redisAddresses'>,
): string | undefined {
  const { host } = splitAddress(address);
  if (isOwnNamespaceService(host, namespace)) return undefined;
  const extra = policy.redisAddresses;
  if (extra?.allowed.some((pattern) => redisAddressMatches(pattern, address))) return undefined;
  const own = `a Service of namespace ${namespace} (name:port, name.${namespace}:port, name.${namespace}.svc:port or name.${namespace}.svc.cluster.local:port)`;
  const allowed = extra?.allowed.length
    ? `${own}, or an address DrainPolicy ${extra.policy} allows (allowedRedisAddresses: ${extra.allowed.join(', ')})`
    : `${own}; a DrainPolicy's allowedRedisAddresses can allow more`;
  return (
    `spec.redis.address=${address} is not allowed: the workload would send it the Redis password ` +
    `(spec.redis.passwordSecretRef). Allowed: ${allowed}. Nothing is applied until it is changed`
  );
}
