import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import { Registry } from 'prom-client';
import { describe, expect, test } from 'vitest';
import { kubeMetricsAuthorizer, type ReviewClient } from './metrics-auth.ts';
import { startMetricsServer } from './servers.ts';
import { derInteger, selfSignedCertificate } from './serving-certificate.ts';

/** An API server that knows two tokens: reader (allowed /metrics) and other (authenticated only). */
function fakeApiServer() {
  const calls: string[] = [];
  const client: ReviewClient = {
    async request<T>(_method: string, path: string, opts: { body: unknown }): Promise<T> {
      calls.push(path);
      const body = opts.body as { spec: Record<string, unknown> };
      if (path.endsWith('/tokenreviews')) {
        const user = { reader: 'system:serviceaccount:monitoring:prometheus', other: 'jane' }[
          body.spec.token as string
        ];
        return (
          user
            ? { status: { authenticated: true, user: { username: user, groups: ['system:authenticated'] } } }
            : { status: { authenticated: false, error: 'invalid bearer token' } }
        ) as T;
      }
      const allowed =
        body.spec.user === 'system:serviceaccount:monitoring:prometheus' &&
        JSON.stringify(body.spec.nonResourceAttributes) === JSON.stringify({ path: '/metrics', verb: 'get' });
      return { status: { allowed } } as T;
    },
  };
  return { client, calls };
}

describe('metrics authorization (TokenReview + SubjectAccessReview)', () => {
  test('no token or an unknown one: 401; a user without the role: 403; a reader: allowed', async () => {
    const { client } = fakeApiServer();
    const authorize = kubeMetricsAuthorizer(client);
    expect(await authorize(undefined, '/metrics')).toMatchObject({ allowed: false, status: 401 });
    expect(await authorize('Basic abc', '/metrics')).toMatchObject({ allowed: false, status: 401 });
    expect(await authorize('Bearer nope', '/metrics')).toMatchObject({
      allowed: false,
      status: 401,
      reason: 'invalid bearer token',
    });
    expect(await authorize('Bearer other', '/metrics')).toMatchObject({
      allowed: false,
      status: 403,
      user: 'jane',
    });
    expect(await authorize('Bearer reader', '/metrics')).toEqual({
      allowed: true,
      user: 'system:serviceaccount:monitoring:prometheus',
    });
  });

  test('decisions are cached for a while, by token, and API errors are not', async () => {
    const { client, calls } = fakeApiServer();
    let now = 0;
    const authorize = kubeMetricsAuthorizer(client, {
      allowTtlMs: 60_000,
      denyTtlMs: 10_000,
      now: () => now,
    });
    await authorize('Bearer reader', '/metrics');
    await authorize('Bearer reader', '/metrics');
    expect(calls).toHaveLength(2); // one TokenReview, one SubjectAccessReview
    now = 61_000;
    await authorize('Bearer reader', '/metrics');
    expect(calls).toHaveLength(4);
    const failing = kubeMetricsAuthorizer({
      request: () => Promise.reject(new Error('connection refused')),
    });
    expect(await failing('Bearer reader', '/metrics')).toMatchObject({ allowed: false, status: 500 });
  });
});

describe('the self-signed serving certificate', () => {
  test('DER integers are minimal: leading zeros dropped, a 0 byte before a set first bit', () => {
    const hex = (bytes: number[]) => derInteger(Buffer.from(bytes)).toString('hex');
    expect(hex([0x00, 0x01])).toBe('020101'); // the serial that made one certificate in 256 invalid
    expect(hex([0x00, 0x00, 0x80])).toBe('02020080');
    expect(hex([0x80, 0x01])).toBe('0203008001');
    expect(hex([0x02])).toBe('020102');
    expect(hex([0x00])).toBe('020100');
    expect(hex([])).toBe('020100');
  });

  test('is a valid, self-verifying certificate for the names and addresses given', () => {
    const { cert } = selfSignedCertificate(['lastcall-operator-metrics.lastcall-system.svc', '127.0.0.1']);
    const x509 = new X509Certificate(cert);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.checkHost('lastcall-operator-metrics.lastcall-system.svc')).toBeTruthy();
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.ca).toBe(false);
    expect(Date.parse(x509.validTo) - Date.now()).toBeGreaterThan(300 * 86_400_000);
  });
});

describe('the metrics server over HTTPS', () => {
  test('serves metrics only to an allowed bearer token', async () => {
    const registry = new Registry();
    const tls = selfSignedCertificate(['localhost', '127.0.0.1']);
    const { client } = fakeApiServer();
    const server = await startMetricsServer({
      host: '127.0.0.1',
      port: 0,
      registry,
      tls,
      authorize: kubeMetricsAuthorizer(client),
    });
    const get = (token?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: server.port,
            path: '/metrics',
            ca: tls.cert,
            servername: 'localhost',
            headers: token ? { authorization: `Bearer ${token}` } : {},
          },
          (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (chunk: string) => {
              body += chunk;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject).end();
      });
    try {
      expect((await get()).status).toBe(401);
      expect((await get('other')).status).toBe(403);
      expect(await get('reader')).toMatchObject({ status: 200 });
    } finally {
      await server.close();
    }
  });
});
