import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** A named check for /healthz or /readyz; returns an error message, or undefined when fine. */
export type Check = () => string | undefined;

export interface ProbeServerOptions {
  host: string;
  port: number;
  /** Liveness: the process is not wedged. */
  healthz: Record<string, Check>;
  /** Readiness: the process can do its job (caches synced); true for a standby replica too. */
  readyz: Record<string, Check>;
}

/**
 * /healthz and /readyz, in the apiserver's style: 200 "ok", or 500 with one line per failed check.
 * `?verbose` lists every check.
 */
export async function startProbeServer(opts: ProbeServerOptions): Promise<RunningServer> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://probe');
    const checks =
      url.pathname === '/healthz' ? opts.healthz : url.pathname === '/readyz' ? opts.readyz : undefined;
    if (!checks) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const results = Object.entries(checks).map(([name, check]) => ({ name, failure: safely(check) }));
    const failed = results.filter((r) => r.failure !== undefined);
    const lines = url.searchParams.has('verbose')
      ? results.map((r) =>
          r.failure === undefined ? `[+]${r.name} ok` : `[-]${r.name} failed: ${r.failure}`,
        )
      : failed.map((r) => `[-]${r.name} failed: ${r.failure}`);
    const body =
      failed.length === 0
        ? `${lines.concat('ok').join('\n')}\n`
        : `${lines.join('\n')}\n${url.pathname.slice(1)} check failed\n`;
    res.writeHead(failed.length === 0 ? 200 : 500, { 'content-type': 'text/plain' }).end(body);
  });
  return listen(server, opts.host, opts.port);
}

/** Prometheus /metrics from `registry`. */
export async function startMetricsServer(opts: {
  host: string;
  port: number;
  registry: Registry;
}): Promise<RunningServer> {
  const server = createServer((req, res) => {
    if (new URL(req.url ?? '/', 'http://metrics').pathname !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    opts.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  return listen(server, opts.host, opts.port);
}

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

function safely(check: Check): string | undefined {
  try {
    return check();
  } catch (err) {
    return (err as Error).message;
  }
}

function listen(server: Server, host: string, port: number): Promise<RunningServer> {
  // Probes and scrapes are short; do not let an idle keep-alive connection hold shutdown open.
  server.keepAliveTimeout = 1000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeIdleConnections();
          }),
      });
    });
  });
}
