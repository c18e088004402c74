import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';

/**
 * The kubelet's HTTPS endpoint for `kubectl logs`: the API server proxies
 * GET /containerLogs/{namespace}/{pod}/{container} to the node's InternalIP and
 * daemonEndpoints.kubeletEndpoint.Port with its --kubelet-client-certificate. Clients must present
 * a certificate signed by the cluster CA. The serving certificate is self-signed (the API server
 * runs without --kubelet-certificate-authority, so it does not verify it).
 */
interface LogSource {
  /** The log file of a container's current run, or of the previous one. */
  logFile(namespace: string, pod: string, container: string, previous: boolean): string | undefined;
  /** Whether the container still runs (follow ends when it stops). */
  running(namespace: string, pod: string, container: string): boolean;
}

function servingCertificate(dir: string): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const cert = join(dir, 'kubelet.crt');
  const key = join(dir, 'kubelet.key');
  if (!existsSync(cert) || !existsSync(key)) {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '365',
        '-subj',
        '/CN=lastcall-node',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:lastcall-node',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore', input: '' },
    );
  }
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

function tail(text: string, lines: number): string {
  const all = text.split('\n');
  if (all[all.length - 1] === '') all.pop();
  return all.slice(-lines).join('\n') + (all.length ? '\n' : '');
}

export function startLogServer(opts: {
  caFile: string;
  certDir: string;
  source: LogSource;
  log: Logger;
}): Promise<https.Server> {
  const { cert, key } = servingCertificate(opts.certDir);
  const server = https.createServer(
    { cert, key, ca: readFileSync(opts.caFile), requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const url = new URL(req.url ?? '/', 'https://kubelet');
      if (url.pathname === '/healthz') {
        res.end('ok');
        return;
      }
      const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      if (req.method !== 'GET' || !m) {
        res
          .writeHead(404)
          .end(`${url.pathname} is not served by the lastcall process kubelet (only /containerLogs)\n`);
        return;
      }
      const [, ns, pod, container] = m as unknown as [string, string, string, string];
      const previous = url.searchParams.get('previous') === 'true';
      const file = opts.source.logFile(ns, pod, container, previous);
      if (!file || !existsSync(file)) {
        res
          .writeHead(404)
          .end(`no ${previous ? 'previous ' : ''}logs for container "${container}" of pod ${ns}/${pod}\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      const tailLines = url.searchParams.get('tailLines');
      let offset = 0;
      if (tailLines !== null) {
        const text = readFileSync(file, 'utf8');
        res.write(tail(text, Number(tailLines)));
        offset = Buffer.byteLength(text);
        if (url.searchParams.get('follow') !== 'true') {
          res.end();
          return;
        }
      }
      if (url.searchParams.get('follow') !== 'true') {
        createReadStream(file).pipe(res);
        return;
      }
      // follow: stream what is there, then poll for growth until the container stops or the client leaves.
      let closed = false;
      req.on('close', () => {
        closed = true;
      });
      const pump = async () => {
        while (!closed) {
          const size = statSync(file, { throwIfNoEntry: false })?.size ?? offset;
          if (size > offset) {
            await new Promise<void>((resolve) => {
              const s = createReadStream(file, { start: offset, end: size - 1 });
              s.on('data', (d) => res.write(d));
              s.on('end', resolve);
              s.on('error', () => resolve());
            });
            offset = size;
          } else if (!opts.source.running(ns, pod, container)) break;
          else await sleep(250);
        }
        res.end();
      };
      void pump();
    },
  );
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      opts.log.info({ port: (server.address() as { port: number }).port }, 'container log server listening');
      resolve(server);
    });
  });
}
