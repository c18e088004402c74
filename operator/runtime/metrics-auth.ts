// Who may read /metrics, decided by the API server, as kubebuilder v4 projects do it
// (controller-runtime's filters.WithAuthenticationAndAuthorization): the scraper's bearer token is
// authenticated with a TokenReview, and the user it names must be allowed `get` on the non-resource
// URL `/metrics` by a SubjectAccessReview (RBAC: a ClusterRole with nonResourceURLs ["/metrics"],
// such as lastcall-metrics-reader). Needs `create` on tokenreviews and subjectaccessreviews.
import { createHash } from 'node:crypto';

/** The part of the API client this needs. */
export interface ReviewClient {
  request<T>(method: string, path: string, opts: { body: unknown }): Promise<T>;
}

type Decision =
  | { allowed: true; user: string }
  | { allowed: false; status: 401 | 403 | 500; reason: string; user?: string };

export type MetricsAuthorizer = (authorization: string | undefined, path: string) => Promise<Decision>;

interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
}

/**
 * Decisions are cached by a hash of the token (never the token itself), as the delegating
 * authenticator and authorizer do: allowed for `allowTtlMs`, refused for `denyTtlMs`; an API error
 * is not cached. At most `maxEntries` are kept (the oldest go first).
 */
export function kubeMetricsAuthorizer(
  client: ReviewClient,
  opts: { allowTtlMs?: number; denyTtlMs?: number; maxEntries?: number; now?: () => number } = {},
): MetricsAuthorizer {
  const allowTtlMs = opts.allowTtlMs ?? 60_000;
  const denyTtlMs = opts.denyTtlMs ?? 10_000;
  const maxEntries = opts.maxEntries ?? 1000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { decision: Decision; expires: number }>();

  async function review(token: string, path: string): Promise<Decision> {
    const authn = await client.request<{ status?: TokenReviewStatus }>(
      'POST',
      '/apis/authentication.k8s.io/v1/tokenreviews',
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } },
    );
    const user = authn.status?.user;
    if (!authn.status?.authenticated || !user?.username) {
      return { allowed: false, status: 401, reason: authn.status?.error || 'the token was not accepted' };
    }
    const authz = await client.request<{ status?: { allowed?: boolean; reason?: string } }>(
      'POST',
      '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      {
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.username,
            uid: user.uid,
            groups: user.groups,
            extra: user.extra,
            nonResourceAttributes: { path, verb: 'get' },
          },
        },
      },
    );
    if (!authz.status?.allowed) {
      return {
        allowed: false,
        status: 403,
        user: user.username,
        reason: `${user.username} may not get ${path}${authz.status?.reason ? `: ${authz.status.reason}` : ''}`,
      };
    }
    return { allowed: true, user: user.username };
  }

  return async (authorization, path) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match?.[1]) return { allowed: false, status: 401, reason: 'a bearer token is required' };
    const key = `${createHash('sha256').update(match[1]).digest('hex')} ${path}`;
    const cached = cache.get(key);
    if (cached && cached.expires > now()) return cached.decision;
    let decision: Decision;
    try {
      decision = await review(match[1], path);
    } catch (err) {
      return {
        allowed: false,
        status: 500,
        reason: `could not review the request: ${(err as Error).message}`,
      };
    }
    cache.delete(key);
    cache.set(key, { decision, expires: now() + (decision.allowed ? allowTtlMs : denyTtlMs) });
    while (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
    return decision;
  };
}
