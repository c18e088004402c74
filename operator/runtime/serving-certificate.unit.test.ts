import { X509Certificate } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Registry } from 'prom-client';
import { expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { startMetricsServer } from './servers.ts';
import { selfSignedCertificate, servingCertificate, watchCertificate } from './serving-certificate.ts';

/** The fingerprint of the certificate a TLS server on 127.0.0.1:port presents. */
function presented(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate()?.fingerprint256 ?? '');
      socket.end();
    });
    socket.on('error', reject);
  });
}

test('a certificate renewed in --metrics-cert-dir is served without a restart', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lastcall-certs-'));
  // As the kubelet updates a Secret volume: new files, then an atomic rename over the old ones.
  const install = async (pair: { cert: string; key: string }) => {
    await writeFile(join(dir, 'tls.crt.new'), pair.cert);
    await writeFile(join(dir, 'tls.key.new'), pair.key);
    await rename(join(dir, 'tls.key.new'), join(dir, 'tls.key'));
    await rename(join(dir, 'tls.crt.new'), join(dir, 'tls.crt'));
  };
  const first = selfSignedCertificate(['localhost']);
  const second = selfSignedCertificate(['localhost']);
  await install(first);
  const server = await startMetricsServer({
    host: '127.0.0.1',
    port: 0,
    registry: new Registry(),
    tls: servingCertificate(dir, []),
  });
  const errors: Error[] = [];
  const watcher = watchCertificate(
    dir,
    (tls) => server.setCertificate(tls),
    (err) => errors.push(err),
  );
  const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
  try {
    expect(await presented(server.port)).toBe(fingerprint(first.cert));
    await install(second);
    await waitFor(
      'the renewed certificate served',
      async () => ((await presented(server.port)) === fingerprint(second.cert) ? true : undefined),
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    // A broken pair (a half-written update) is skipped: the server keeps what it has.
    await writeFile(join(dir, 'tls.crt'), 'not a certificate');
    await waitFor('the broken pair reported', () => (errors.length > 0 ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    expect(await presented(server.port)).toBe(fingerprint(second.cert));
  } finally {
    watcher.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
