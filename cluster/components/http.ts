import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** TLS material for a request: the cluster CA, and a client certificate when the endpoint wants one. */
export interface TlsFiles {
  ca: string;
  cert?: string;
  key?: string;
}

interface HttpResult {
  status: number;
  body: string;
}

/**
 * One HTTP(S) request to a loopback endpoint, verifying the server against
 * the cluster CA. Node's fetch cannot present a client certificate without
 * undici's Agent, hence node:https.
 */
export function httpCall(
  method: string,
  url: string,
  opts: { tls?: TlsFiles; body?: unknown; timeoutMs?: number } = {},
): Promise<HttpResult> {
  const target = new URL(url);
  if (!['127.0.0.1', 'localhost'].includes(target.hostname)) {
    // The network rule: the launcher only ever dials loopback.
    throw new Error(`refusing to dial ${target.host}: the local cluster only uses loopback addresses`);
  }
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const tls = opts.tls;
  const options = {
    method,
    timeout: opts.timeoutMs ?? 5000,
    headers:
      payload === undefined
        ? {}
        : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    ...(tls === undefined
      ? {}
      : {
          ca: readFileSync(tls.ca),
          cert: tls.cert === undefined ? undefined : readFileSync(tls.cert),
          key: tls.key === undefined ? undefined : readFileSync(tls.key),
        }),
  };
  return new Promise((resolve, reject) => {
    const request = (target.protocol === 'https:' ? httpsRequest : httpRequest)(
      target,
      options,
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`${method} ${url} timed out`)));
    request.on('error', reject);
    request.end(payload);
  });
}

/** True when GET `url` answers 200. Connection errors (not listening yet) count as not healthy. */
export async function isHealthy(url: string, tls?: TlsFiles): Promise<boolean> {
  try {
    return (await httpCall('GET', url, { tls, timeoutMs: 3000 })).status === 200;
  } catch {
    return false;
  }
}
