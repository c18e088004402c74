import { writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  inClusterCredentials,
  KubeconfigError,
  kubeconfigCredentials,
  NeedsAuthPlugin,
  resolveKubeconfigPath,
} from '../../kube/kubeconfig.ts';
import { tempDirsOfFile } from '../support/temp-dirs.ts';

const tempDir = tempDirsOfFile();
const b64 = (text: string) => Buffer.from(text).toString('base64');

function kubeconfig(
  user: string,
  cluster = `{server: "https://127.0.0.1:6443", certificate-authority-data: ${b64('CA')}}`,
) {
  const dir = tempDir('lc-kubeconfig-');
  const file = join(dir, 'config');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'current-context: c',
      'contexts: [{name: c, context: {cluster: k, user: u}}, {name: other, context: {cluster: x, user: x}}]',
      `clusters: [{name: k, cluster: ${cluster}}]`,
      `users: [{name: u, user: ${user}}]`,
    ].join('\n'),
  );
  return { dir, file };
}

describe('kubeconfigCredentials', () => {
  test('reads inline data and files relative to the kubeconfig, of the current context', async () => {
    const { dir, file } = kubeconfig(`{client-certificate-data: ${b64('CERT')}, client-key: client.key}`);
    writeFileSync(join(dir, 'client.key'), 'KEY');
    const credentials = kubeconfigCredentials(file);
    expect(credentials.server).toBe('https://127.0.0.1:6443');
    expect([credentials.tls.ca, credentials.tls.cert, credentials.tls.key].map(String)).toEqual([
      'CA',
      'CERT',
      'KEY',
    ]);
    expect(credentials.tls.rejectUnauthorized).toBeUndefined();
    expect(await credentials.headers()).toEqual({});
  });

  test('a token file is read again each time: rotated tokens are picked up', async () => {
    const { dir, file } = kubeconfig('{tokenFile: token}');
    writeFileSync(join(dir, 'token'), 'first\n');
    const credentials = kubeconfigCredentials(file);
    expect(await credentials.headers()).toEqual({ authorization: 'Bearer first' });
    writeFileSync(join(dir, 'token'), 'second\n');
    expect(await credentials.headers()).toEqual({ authorization: 'Bearer second' });
  });

  test('a token, basic auth, insecure-skip-tls-verify and tls-server-name', async () => {
    expect(await kubeconfigCredentials(kubeconfig('{token: abc}').file).headers()).toEqual({
      authorization: 'Bearer abc',
    });
    expect(await kubeconfigCredentials(kubeconfig('{username: me, password: pw}').file).headers()).toEqual({
      authorization: `Basic ${b64('me:pw')}`,
    });
    const { file } = kubeconfig(
      '{token: abc}',
      '{server: "https://10.0.0.1", insecure-skip-tls-verify: true, tls-server-name: api.internal}',
    );
    expect(kubeconfigCredentials(file).tls).toEqual({
      rejectUnauthorized: false,
      servername: 'api.internal',
    });
  });

  test('an exec plugin or auth provider is left to client-node (NeedsAuthPlugin)', () => {
    const { file } = kubeconfig('{exec: {apiVersion: client.authentication.k8s.io/v1, command: aws}}');
    expect(() => kubeconfigCredentials(file)).toThrow(NeedsAuthPlugin);
    expect(() => kubeconfigCredentials(file)).toThrow(/user "u" needs an exec plugin or auth provider/);
  });

  test('errors name the file and what is missing', () => {
    const { file } = kubeconfig('{token: abc}');
    expect(() => kubeconfigCredentials(file, 'nope')).toThrow(
      `${file}: context "nope" not found in contexts`,
    );
    expect(() => kubeconfigCredentials(file, 'other')).toThrow(`${file}: cluster "x" has no server`);
    expect(() => kubeconfigCredentials(join(tempDir('lc-kubeconfig-'), 'absent'))).toThrow(
      /kubeconfig: cannot read .*absent: ENOENT/,
    );
    const unset = join(tempDir('lc-kubeconfig-'), 'config');
    writeFileSync(unset, 'contexts: []\n');
    expect(() => kubeconfigCredentials(unset)).toThrow(KubeconfigError);
    expect(() => kubeconfigCredentials(unset)).toThrow(`${unset}: current-context is not set`);
  });
});

describe('inClusterCredentials', () => {
  test('the API server from KUBERNETES_SERVICE_HOST/PORT, the ServiceAccount CA, and the token re-read each time', async () => {
    const dir = tempDir('lc-serviceaccount-');
    writeFileSync(join(dir, 'ca.crt'), 'CA');
    writeFileSync(join(dir, 'token'), 'one');
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    const credentials = inClusterCredentials(env, dir);
    expect(credentials.server).toBe('https://10.96.0.1:443');
    expect(String(credentials.tls.ca)).toBe('CA');
    expect(await credentials.headers()).toEqual({ authorization: 'Bearer one' });
    // The kubelet rotates projected tokens in place.
    writeFileSync(join(dir, 'token'), 'two');
    expect(await credentials.headers()).toEqual({ authorization: 'Bearer two' });
  });

  test('an IPv6 host is bracketed; missing variables or files are named', () => {
    const dir = tempDir('lc-serviceaccount-');
    writeFileSync(join(dir, 'ca.crt'), 'CA');
    expect(
      inClusterCredentials({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, dir)
        .server,
    ).toBe('https://[fd00::1]:6443');
    expect(() => inClusterCredentials({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, dir)).toThrow(
      'in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both be set',
    );
    expect(() =>
      inClusterCredentials(
        { KUBERNETES_SERVICE_HOST: 'h', KUBERNETES_SERVICE_PORT: '1' },
        tempDir('lc-empty-'),
      ),
    ).toThrow(/in-cluster CA: cannot read .*ca\.crt/);
  });
});

describe('resolveKubeconfigPath', () => {
  test('explicit file, then the pod ServiceAccount, then the first KUBECONFIG entry, then ~/.kube/config', () => {
    expect(resolveKubeconfigPath('/k', { KUBERNETES_SERVICE_HOST: 'h' })).toEqual({
      kind: 'file',
      path: '/k',
    });
    expect(resolveKubeconfigPath(undefined, { KUBERNETES_SERVICE_HOST: 'h', KUBECONFIG: '/a' })).toEqual({
      kind: 'in-cluster',
    });
    expect(resolveKubeconfigPath(undefined, { KUBECONFIG: ':/a:/b' })).toEqual({ kind: 'file', path: '/a' });
    expect(resolveKubeconfigPath(undefined, {})).toEqual({
      kind: 'file',
      path: join(homedir(), '.kube', 'config'),
    });
  });
});
