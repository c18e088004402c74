import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Credentials } from './kubeconfig.ts';

/**
 * A thin JSON client for the Kubernetes REST API.
 *
 * Requests go through one keep-alive agent of node:https (undici would cost about 30 MB of
 * resident memory for nothing the operator needs). @kubernetes/client-node
 * 2.x builds a new dispatcher for every call (KubeConfig.applySecurityAuthentication), which costs a
 * TLS handshake per request and leaks sockets under load, and its typed models drop unknown fields
 * and turn timestamps into Dates, which would make "is the live object already what we want"
 * comparisons lie. Credentials come from kubeconfig.ts, or from a client-node KubeConfig for
 * kubeconfigs that need its auth plugins.
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
  readonly #secure: boolean;
  readonly #host: string;
  readonly #port: number;
  readonly #basePath: string;
  readonly #agent: HttpAgent;
  readonly #credentialHeaders: () => Promise<Record<string, string>>;
  readonly #userAgent: string;
  #headers: Record<string, string> = {};
  #headersAt = 0;
  #observer: RequestObserver | undefined;

  private constructor(credentials: Credentials, userAgent: string) {
    this.server = credentials.server;
    const url = new URL(credentials.server);
    this.#secure = url.protocol === 'https:';
    this.#host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#port = Number(url.port || (this.#secure ? 443 : 80));
    // Watches are long-lived requests; each holds one HTTP/1.1 connection, so sockets are not capped.
    const agentOptions = { keepAlive: true, keepAliveMsecs: 30_000, scheduling: 'lifo' as const };
    const agent = this.#secure
      ? new HttpsAgent({ ...agentOptions, ...credentials.tls })
      : new HttpAgent(agentOptions);
    this.#basePath = url.pathname.replace(/\/$/, '');
    this.#agent = agent;
    this.#credentialHeaders = credentials.headers;
    this.#userAgent = userAgent;
  }

  static async connect(credentials: Credentials, opts: { userAgent?: string } = {}): Promise<KubeClient> {
    const client = new KubeClient(credentials, opts.userAgent ?? 'lastcall-operator');
    await client.#credentials();
    return client;
  }

  /** Credentials from a @kubernetes/client-node KubeConfig (any auth it supports, exec plugins included). */
  static async fromKubeConfig(
    kubeConfig: KubeConfig,
    opts: { userAgent?: string } = {},
  ): Promise<KubeClient> {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig: no current cluster (set current-context or KUBECONFIG)');
    const tls: Record<string, unknown> = {};
    await kubeConfig.applyToHTTPSOptions(tls);
    const picked: Credentials['tls'] = {};
    for (const field of ['ca', 'cert', 'key', 'rejectUnauthorized', 'servername'] as const) {
      if (tls[field] !== undefined) (picked as Record<string, unknown>)[field] = tls[field];
    }
    return KubeClient.connect(
      {
        server: cluster.server,
        tls: picked,
        headers: async () => {
          const opts: { headers?: Record<string, string> } = {};
          await kubeConfig.applyToHTTPSOptions(opts);
          return opts.headers ?? {};
        },
      },
      opts,
    );
  }

  /** Calls `observer` after every request (metrics). */
  observe(observer: RequestObserver): void {
    this.#observer = observer;
  }

  async close(): Promise<void> {
    this.#agent.destroy();
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
      const response = await this.#send(
        method,
        path + queryString(opts.query),
        headers,
        body,
        opts.signal,
        60_000,
      );
      code = response.statusCode ?? 0;
      const text = await readText(response);
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
      // The timeout is one of inactivity: bookmarks arrive about once a minute, so a connection
      // silent for longer is a dead one (a half-open TCP connection never errors by itself).
      const response = await this.#send(
        'GET',
        path + queryString({ ...query, watch: true }),
        { ...(await this.#credentials()), accept: contentTypes.json },
        undefined,
        opts.signal,
        opts.idleTimeoutMs ?? 120_000,
      );
      code = response.statusCode ?? 0;
      if (code !== 200) {
        const text = await readText(response);
        throw new ApiError('WATCH', path, code, parseStatus(text), text);
      }
      let buffered = '';
      response.setEncoding('utf8');
      for await (const chunk of response as AsyncIterable<string>) {
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

  #send(
    method: string,
    pathAndQuery: string,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal | undefined,
    idleTimeoutMs: number,
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const request = (this.#secure ? httpsRequest : httpRequest)(
        {
          host: this.#host,
          port: this.#port,
          path: this.#basePath + pathAndQuery,
          method,
          headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
          agent: this.#agent,
          signal,
        },
        resolve,
      );
      request.setTimeout(idleTimeoutMs, () =>
        request.destroy(new Error(`${method} ${pathAndQuery}: no data for ${idleTimeoutMs} ms`)),
      );
      request.once('error', reject);
      request.end(body);
    });
  }

  async #credentials(): Promise<Record<string, string>> {
    const now = Date.now();
    if (now - this.#headersAt < credentialTtlMs) return this.#headers;
    this.#headers = { ...(await this.#credentialHeaders()), 'user-agent': this.#userAgent };
    this.#headersAt = now;
    return this.#headers;
  }
}

async function readText(response: IncomingMessage): Promise<string> {
  response.setEncoding('utf8');
  let text = '';
  for await (const chunk of response as AsyncIterable<string>) text += chunk;
  return text;
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
