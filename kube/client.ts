import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ApiError, parseStatus, RequestTimeoutError } from './errors.ts';
import type { Credentials } from './kubeconfig.ts';

/**
 * The one JSON client for the Kubernetes REST API: the operator, the process kubelet, the service
 * proxy, the experiment, the tests and the benchmarks all talk to the API server through it.
 *
 * Requests go through one keep-alive agent of node:https (undici would cost about 30 MB of
 * resident memory for nothing the operator needs). @kubernetes/client-node
 * 2.x builds a new dispatcher for every call (KubeConfig.applySecurityAuthentication), which costs a
 * TLS handshake per request and leaks sockets under load, and its typed models drop unknown fields
 * (lifecycle.stopSignal, sleep hooks in older models) and turn timestamps into Dates, which would
 * make "is the live object already what we want" comparisons lie. Credentials come from
 * kubeconfig.ts, or from auth-plugin.ts for kubeconfigs that need client-node's auth plugins.
 */

type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'apply' | 'delete';

type RequestObserver = (request: { verb: Verb; resource: string; code: number; seconds: number }) => void;

/**
 * Request bodies. A PATCH says by its content type how the API server merges it: strategic merge
 * (lists merged by key, e.g. containers by name) works for built-in types only and is refused
 * for custom resources (415); JSON merge patch works for both; apply is server-side apply.
 */
export const contentTypes = {
  json: 'application/json',
  jsonPatch: 'application/json-patch+json',
  mergePatch: 'application/merge-patch+json',
  strategicMergePatch: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

type Query = Record<string, string | number | boolean | undefined>;

interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  /** Aborts the request (e.g. shutdown); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Deadline for the whole request, from sending it to the last byte of the answer (default: the
   * client's `timeoutMs`). On expiry it rejects with RequestTimeoutError. A leader must bound each
   * renewal inside its renew deadline: a request left hanging on a dead connection would otherwise
   * keep it "leading" past the moment another replica may take over.
   */
  timeoutMs?: number;
}

export interface ClientOptions {
  /** Sent as User-Agent; the API server's audit log and metrics show it. */
  userAgent?: string;
  /** Default per-request deadline in milliseconds (60 s). Watches are bounded by inactivity instead. */
  timeoutMs?: number;
}

interface WatchOptions {
  signal?: AbortSignal;
  /**
   * The watch is dropped after this long without a byte (default 120 s): a half-open TCP
   * connection never errors by itself. With bookmarks the server writes about once a minute.
   */
  idleTimeoutMs?: number;
}

/** One line of a watch stream. */
export interface WatchEvent<T = unknown> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** Credentials can rotate (projected ServiceAccount tokens); re-read them this often. */
const credentialTtlMs = 60_000;
const defaultTimeoutMs = 60_000;

export class KubeClient {
  /** The API server's base URL, as the kubeconfig or the in-cluster environment gives it. */
  readonly server: string;
  readonly #secure: boolean;
  readonly #host: string;
  readonly #port: number;
  readonly #basePath: string;
  readonly #agent: HttpAgent;
  readonly #credentialHeaders: () => Promise<Record<string, string>>;
  readonly #userAgent: string;
  readonly #timeoutMs: number;
  #headers: Record<string, string> = {};
  #headersAt = 0;
  #observer: RequestObserver | undefined;
  #writeFence: (() => Error | undefined) | undefined;

  private constructor(credentials: Credentials, opts: ClientOptions) {
    this.server = credentials.server;
    const url = new URL(credentials.server);
    this.#secure = url.protocol === 'https:';
    this.#host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#port = Number(url.port || (this.#secure ? 443 : 80));
    // Watches are long-lived requests; each holds one HTTP/1.1 connection, so sockets are not capped.
    const agentOptions = { keepAlive: true, keepAliveMsecs: 30_000, scheduling: 'lifo' as const };
    this.#agent = this.#secure
      ? new HttpsAgent({ ...agentOptions, ...credentials.tls })
      : new HttpAgent(agentOptions);
    this.#basePath = url.pathname.replace(/\/$/, '');
    this.#credentialHeaders = credentials.headers;
    this.#userAgent = opts.userAgent ?? 'lastcall';
    const timeoutMs = opts.timeoutMs ?? defaultTimeoutMs;
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      throw new RangeError(`timeoutMs: ${timeoutMs} is not allowed; it must be a positive number of ms`);
    }
    this.#timeoutMs = timeoutMs;
  }

  /** A client for `credentials`; reads them once now, so a missing token file fails here. */
  static async connect(credentials: Credentials, opts: ClientOptions = {}): Promise<KubeClient> {
    const client = new KubeClient(credentials, opts);
    await client.#credentials();
    return client;
  }

  /**
   * Asks `fence` before every mutating request (anything but GET); an Error it returns is thrown
   * instead of sending. A leader fences its writes with its lease (operator/main.ts).
   */
  fenceWrites(fence: () => Error | undefined): void {
    this.#writeFence = fence;
  }

  /** Calls `observer` after every request (metrics). */
  observe(observer: RequestObserver): void {
    this.#observer = observer;
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }

  /** GET `path`: the object, the list, or (for text endpoints such as pod logs) the text. */
  get<T>(path: string, opts: Omit<RequestOptions, 'body' | 'contentType'> = {}): Promise<T> {
    return this.request<T>('GET', path, opts);
  }

  /**
   * One request. Resolves with the parsed JSON answer (the text when the server answers with
   * another content type); rejects with ApiError for a non-2xx answer, RequestTimeoutError at the
   * deadline, or the signal's reason when `signal` aborts.
   */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    if (method !== 'GET') {
      const refused = this.#writeFence?.();
      if (refused !== undefined) throw refused;
    }
    const started = performance.now();
    const verb = verbOf(method, path, opts);
    const timeoutMs = opts.timeoutMs ?? this.#timeoutMs;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
    let code = 0;
    try {
      const headers: Record<string, string> = { ...(await this.#credentials()), accept: contentTypes.json };
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] = opts.contentType ?? contentTypes.json;
      }
      const response = await this.#send(method, path + queryString(opts.query), headers, body, signal);
      code = response.statusCode ?? 0;
      const text = await readText(response);
      if (code < 200 || code >= 300) throw new ApiError(method, path, code, parseStatus(text), text);
      if (!text) return undefined as T;
      return (isJson(response) ? JSON.parse(text) : text) as T;
    } catch (err) {
      // The deadline fired, not the caller's signal: say so, with the deadline, not "AbortError".
      if (deadline.aborted && !opts.signal?.aborted) throw new RequestTimeoutError(method, path, timeoutMs);
      throw err;
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
   * timeoutSeconds), the connection drops or goes idle, or `signal` aborts. Resolves when the
   * stream ends normally; rejects with ApiError when the server refuses the watch (e.g. 410 Gone).
   * A watch that a `signal` ends resolves too: the caller asked for the end.
   */
  async watch<T>(
    path: string,
    query: Query,
    onEvent: (event: WatchEvent<T>) => void,
    opts: WatchOptions = {},
  ): Promise<void> {
    const started = performance.now();
    let code = 0;
    const idleTimeoutMs = opts.idleTimeoutMs ?? 120_000;
    try {
      const response = await this.#send(
        'GET',
        path + queryString({ ...query, watch: true }),
        { ...(await this.#credentials()), accept: contentTypes.json },
        undefined,
        opts.signal,
        idleTimeoutMs,
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
    } catch (err) {
      if (opts.signal?.aborted) return;
      throw err;
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
    idleTimeoutMs?: number,
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      let response: IncomingMessage | undefined;
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
        (answer) => {
          response = answer;
          resolve(answer);
        },
      );
      if (idleTimeoutMs !== undefined) {
        request.setTimeout(idleTimeoutMs, () => {
          const idle = new Error(`${method} ${pathAndQuery}: no data for ${idleTimeoutMs} ms`);
          // Once the answer streams, its reader must see why it ended, not a bare "aborted".
          if (response) response.destroy(idle);
          else request.destroy(idle);
        });
      }
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

function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

function isJson(response: IncomingMessage): boolean {
  const type = response.headers['content-type'] ?? 'application/json';
  return /\bjson\b/i.test(type);
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
