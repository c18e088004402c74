import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { MetricsAuthorizer } from './metrics-auth.ts';

/** A named check for /healthz or /readyz; returns an error message, or undefined when fine. */
type Check = () => string | undefined;

interface ProbeServerOptions {
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

/**
 * Prometheus /metrics from `registry`. With `tls`, served over HTTPS; with `authorize`, a request is
 * answered only when the authorizer allows it (401 without an accepted token, 403 when the user may
 * not read /metrics), as kubebuilder v4 projects serve metrics.
 */
export async function startMetricsServer(opts: {
  host: string;
  port: number;
  registry: Registry;
  tls?: { key: string; cert: string };
  authorize?: MetricsAuthorizer;
  /** Told of every refused request (user, status, reason), for the log. */
  onRefused?: (refusal: { status: number; reason: string; user?: string }) => void;
}): Promise<RunningServer & { setCertificate(tls: { key: string; cert: string }): void }> {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://metrics').pathname;
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const decided = opts.authorize
      ? opts.authorize(req.headers.authorization, path)
      : Promise.resolve({ allowed: true as const, user: '' });
    decided
      .then(async (decision) => {
        if (!decision.allowed) {
          opts.onRefused?.(decision);
          const headers: Record<string, string> = { 'content-type': 'text/plain' };
          if (decision.status === 401) headers['www-authenticate'] = 'Bearer realm="lastcall-operator"';
          res.writeHead(decision.status, headers).end(`${decision.reason}\n`);
          return;
        }
        const text = await opts.registry.metrics();
        res.writeHead(200, { 'content-type': opts.registry.contentType }).end(text);
      })
      .catch((err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`));
  };
  const server = opts.tls
    ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, handler)
    : createServer(handler);
  const running = await listen(server, opts.host, opts.port);
  return {
    ...running,
    // A renewed certificate, for new connections from now on (throws when key and cert do not match).
    setCertificate: (tls) => {
      if (server instanceof HttpsServer) server.setSecureContext({ key: tls.key, cert: tls.cert });
    },
  };
}

interface RunningServer {
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
