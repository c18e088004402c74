/**
 * What a failed API request looks like: the HTTP code and the `Status` object the API server sends
 * with it (reason "NotFound", "AlreadyExists", "Conflict", "Expired", ...), in one error class for
 * every caller, and the predicates callers branch on.
 */

/** A Kubernetes `Status` object, as the API server returns it on failure. */
interface KubeStatus {
  kind?: 'Status';
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: unknown;
}

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string | undefined;
  readonly status: KubeStatus | undefined;

  constructor(method: string, path: string, code: number, status: KubeStatus | undefined, text: string) {
    super(
      `${method} ${path}: ${code} ${status?.reason ?? ''} ${status?.message ?? text}`
        .replace(/\s+/g, ' ')
        .trim(),
    );
    this.name = 'ApiError';
    this.code = code;
    this.reason = status?.reason;
    this.status = status;
  }
}

/**
 * A request that got no complete answer within its deadline (the client's `timeoutMs`). Not an
 * ApiError: the server may or may not have carried out a write that timed out.
 */
export class RequestTimeoutError extends Error {
  readonly timeoutMs: number;

  constructor(method: string, path: string, timeoutMs: number) {
    super(`${method} ${path}: no complete answer within ${timeoutMs} ms (request timeout)`);
    this.name = 'RequestTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.code === 404;
}

/** 409: AlreadyExists on create, Conflict on a stale resourceVersion or a failed precondition. */
export function isConflict(err: unknown): boolean {
  return err instanceof ApiError && err.code === 409;
}

/** 410 Gone: a watch or list asked for a resourceVersion etcd has compacted away. */
export function isGone(err: unknown): boolean {
  return err instanceof ApiError && err.code === 410;
}

/** Parses a response body as a Status, if it is one (an HTML error page from a proxy is not). */
export function parseStatus(text: string): KubeStatus | undefined {
  try {
    const parsed = JSON.parse(text) as KubeStatus;
    return parsed && typeof parsed === 'object' ? parsed : undefined;
  } catch {
    return undefined;
  }
}
