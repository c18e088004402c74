import https from 'node:https';
import { createInterface } from 'node:readline';
import { type ApiConnection, clientNodeConnection } from './kubeconfig.ts';

/**
 * A small JSON REST client; the kubeconfig, TLS and credentials come from kubeconfig.ts
 * (@kubernetes/client-node's KubeConfig by default). Raw JSON on purpose: the typed models drop fields they do not
 * know (lifecycle.stopSignal, sleep hooks on older models) and turn timestamps into Dates.
 */
export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly body: unknown;
  constructor(method: string, path: string, code: number, body: unknown) {
    const status = body as { message?: string; reason?: string } | undefined;
    super(
      `${method} ${path}: ${code} ${status?.reason ?? ''} ${status?.message ?? JSON.stringify(body)}`.trim(),
    );
    this.name = 'ApiError';
    this.code = code;
    this.reason = status?.reason ?? '';
    this.body = body;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiError && err.code === 404;
}
export function isConflict(err: unknown): boolean {
  return err instanceof ApiError && err.code === 409;
}

export const MERGE_PATCH = 'application/merge-patch+json';
export const STRATEGIC_MERGE_PATCH = 'application/strategic-merge-patch+json';

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

interface Connection {
  base: URL;
  agent: https.Agent;
  headers: Record<string, string>;
}

export class KubeApi {
  private readonly connection: Promise<Connection>;

  /** `source`: a kubeconfig file (read with @kubernetes/client-node) or a ready connection. */
  constructor(source: string | Promise<ApiConnection> | ApiConnection) {
    const conn = typeof source === 'string' ? clientNodeConnection(source) : Promise.resolve(source);
    this.connection = conn.then((c) => ({
      base: c.server,
      agent: new https.Agent({
        ca: c.ca,
        cert: c.cert,
        key: c.key,
        rejectUnauthorized: c.rejectUnauthorized,
        keepAlive: true,
        maxSockets: 64,
      }),
      headers: c.headers,
    }));
  }

  async server(): Promise<URL> {
    return (await this.connection).base;
  }

  private async open(
    method: string,
    path: string,
    body: unknown,
    contentType: string,
    signal?: AbortSignal,
  ): Promise<import('node:http').IncomingMessage> {
    const c = await this.connection;
    const url = new URL(path, c.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return await new Promise((resolve, reject) => {
      const req = https.request(
        url,
        {
          method,
          agent: c.agent,
          headers: {
            ...c.headers,
            Accept: 'application/json',
            'User-Agent': 'lastcall-kubelet',
            ...(payload ? { 'Content-Type': contentType, 'Content-Length': String(payload.length) } : {}),
          },
          signal,
        },
        resolve,
      );
      req.on('error', reject);
      req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path}: no response in 60 s`)));
      req.end(payload);
    });
  }

  async request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<T> {
    const res = await this.open(method, path, body, contentType);
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text for the error message
    }
    const code = res.statusCode ?? 0;
    if (code < 200 || code >= 300) throw new ApiError(method, path, code, parsed);
    return parsed as T;
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /**
   * One watch connection: resolves when the server closes it (timeoutSeconds) or the signal fires;
   * rejects on HTTP errors (ApiError, 410 included when the server answers with a status code).
   */
  async watch<T>(
    path: string,
    query: Record<string, string>,
    onEvent: (e: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const params = new URLSearchParams({ ...query, watch: 'true' });
    const res = await this.open('GET', `${path}?${params}`, undefined, '', signal);
    if ((res.statusCode ?? 0) !== 200) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      let body: unknown = Buffer.concat(chunks).toString('utf8');
      try {
        body = JSON.parse(body as string);
      } catch {}
      throw new ApiError('WATCH', path, res.statusCode ?? 0, body);
    }
    res.socket?.setTimeout(0);
    const lines = createInterface({ input: res });
    try {
      for await (const line of lines) {
        if (!line.trim()) continue;
        onEvent(JSON.parse(line) as WatchEvent<T>);
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      res.destroy();
    }
  }
}
