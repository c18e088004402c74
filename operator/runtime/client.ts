import type { KubeConfig } from '@kubernetes/client-node';
import { Agent } from 'undici';

/**
 * A thin JSON client for the Kubernetes REST API.
 *
 * @kubernetes/client-node is used for what it does well (loading kubeconfig, in-cluster config,
 * credentials). Requests go through one shared undici Agent: client-node 2.x builds a new dispatcher
 * for every call (KubeConfig.applySecurityAuthentication), which costs a TLS handshake per request
 * and leaks sockets under load, and its typed models drop unknown fields and turn timestamps into
 * Dates, which would make "is the live object already what we want" comparisons lie.
 */

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'apply' | 'delete';

export type RequestObserver = (request: {
  verb: Verb;
  resource: string;
  code: number;
  seconds: number;
}) => void;

/** A Kubernetes `Status` object, as the API server returns it on failure. */
export interface KubeStatus {
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

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.code === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof ApiError && err.code === 409;
}

/** 410 Gone: a watch or list asked for a resourceVersion etcd has compacted away. */
export function isGone(err: unknown): boolean {
  return err instanceof ApiError && err.code === 410;
}

export const contentTypes = {
  json: 'application/json',
  mergePatch: 'application/merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
}

/** One line of a watch stream. */
export interface WatchEvent<T = unknown> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** Credentials can rotate (projected ServiceAccount tokens); re-read them this often. */
const credentialTtlMs = 60_000;

export class KubeClient {
  readonly server: string;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #agent: Agent;
  readonly #kubeConfig: KubeConfig;
  readonly #userAgent: string;
  #headers: Record<string, string> = {};
  #headersAt = 0;
  #observer: RequestObserver | undefined;

  private constructor(kubeConfig: KubeConfig, agent: Agent, userAgent: string) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig: no current cluster (set current-context or KUBECONFIG)');
    this.server = cluster.server;
    const url = new URL(cluster.server);
    this.#origin = url.origin;
    this.#basePath = url.pathname.replace(/\/$/, '');
    this.#agent = agent;
    this.#kubeConfig = kubeConfig;
    this.#userAgent = userAgent;
  }

  static async fromKubeConfig(
    kubeConfig: KubeConfig,
    opts: { userAgent?: string } = {},
  ): Promise<KubeClient> {
    const tls: Record<string, unknown> = {};
    await kubeConfig.applyToHTTPSOptions(tls);
    const connect: Record<string, unknown> = { keepAlive: true, keepAliveInitialDelay: 30_000 };
    for (const field of ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername']) {
      if (tls[field] !== undefined) connect[field] = tls[field];
    }
    // Watches are long-lived requests; each holds one HTTP/1.1 connection, so the pool is unbounded.
    const agent = new Agent({ connect, keepAliveTimeout: 30_000 });
    const client = new KubeClient(kubeConfig, agent, opts.userAgent ?? 'lastcall-operator');
    await client.#credentials();
    return client;
  }

  /** Calls `observer` after every request (metrics). */
  observe(observer: RequestObserver): void {
    this.#observer = observer;
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const started = performance.now();
    const verb = verbOf(method, path, opts);
    let code = 0;
    try {
      const headers: Record<string, string> = { ...(await this.#credentials()), accept: contentTypes.json };
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] = opts.contentType ?? contentTypes.json;
      }
      const response = await this.#agent.request({
        origin: this.#origin,
        path: this.#basePath + path + queryString(opts.query),
        method: method as 'GET',
        headers,
        body,
        signal: opts.signal,
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
      });
      code = response.statusCode;
      const text = await response.body.text();
      if (code < 200 || code >= 300) throw new ApiError(method, path, code, parseStatus(text), text);
      return (text ? JSON.parse(text) : undefined) as T;
    } finally {
      this.#observer?.({
        verb,
        resource: resourceOf(path),
        code,
        seconds: (performance.now() - started) / 1000,
      });
    }
  }

  /**
   * Opens a watch and calls `onEvent` for each event until the server ends the stream (its
   * timeoutSeconds), the connection drops, or `signal` aborts. Resolves when the stream ends
   * normally; rejects with ApiError when the server refuses the watch (e.g. 410 Gone).
   */
  async watch<T>(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    onEvent: (event: WatchEvent<T>) => void,
    opts: { signal?: AbortSignal; idleTimeoutMs?: number } = {},
  ): Promise<void> {
    const started = performance.now();
    let code = 0;
    try {
      const response = await this.#agent.request({
        origin: this.#origin,
        path: this.#basePath + path + queryString({ ...query, watch: true }),
        method: 'GET',
        headers: { ...(await this.#credentials()), accept: contentTypes.json },
        signal: opts.signal,
        headersTimeout: 60_000,
        // An inactivity timeout: bookmarks arrive about once a minute, so a silent connection
        // for longer than this is a dead one (a half-open TCP connection never errors by itself).
        bodyTimeout: opts.idleTimeoutMs ?? 120_000,
      });
      code = response.statusCode;
      if (code !== 200) {
        const text = await response.body.text();
        throw new ApiError('WATCH', path, code, parseStatus(text), text);
      }
      let buffered = '';
      response.body.setEncoding('utf8');
      for await (const chunk of response.body as AsyncIterable<string>) {
        buffered += chunk;
        let newline = buffered.indexOf('\n');
        while (newline >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
          newline = buffered.indexOf('\n');
        }
      }
    } finally {
      this.#observer?.({
        verb: 'watch',
        resource: resourceOf(path),
        code,
        seconds: (performance.now() - started) / 1000,
      });
    }
  }

  async #credentials(): Promise<Record<string, string>> {
    const now = Date.now();
    if (now - this.#headersAt < credentialTtlMs) return this.#headers;
    const opts: { headers?: Record<string, string> } = {};
    await this.#kubeConfig.applyToHTTPSOptions(opts);
    this.#headers = { ...(opts.headers ?? {}), 'user-agent': this.#userAgent };
    this.#headersAt = now;
    return this.#headers;
  }
}

function queryString(query: RequestOptions['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

function parseStatus(text: string): KubeStatus | undefined {
  try {
    const parsed = JSON.parse(text) as KubeStatus;
    return parsed && typeof parsed === 'object' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The Kubernetes verb a request stands for (as in audit logs), for metrics. */
function verbOf(method: string, path: string, opts: RequestOptions): Verb {
  switch (method) {
    case 'GET':
      return isCollection(path) ? 'list' : 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return opts.contentType === contentTypes.apply ? 'apply' : 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return 'get';
  }
}

/** "/apis/apps/v1/namespaces/x/deployments/y/status" -> "deployments/status". */
function resourceOf(path: string): string {
  const parts = path.split('?')[0]?.split('/').filter(Boolean) ?? [];
  const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length > 2) rest.splice(0, 2);
  const [resource = 'unknown', , subresource] = rest;
  return subresource ? `${resource}/${subresource}` : resource;
}

function isCollection(path: string): boolean {
  const parts = path.split('/').filter(Boolean);
  const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length > 2) rest.splice(0, 2);
  return rest.length === 1;
}
