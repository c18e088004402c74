import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * The cluster's PKI, made with the openssl CLI (present on every Linux and CI
 * image; Node's crypto can make keys but not X.509 certificates, and an npm
 * X.509 library would be one more dependency for a few files). Keys are ECDSA
 * P-256: instant to generate and accepted by every component (the API server's
 * service-account flags take RSA or ECDSA keys).
 */
export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  apiserverCert: string;
  apiserverKey: string;
  /** Signs ServiceAccount tokens (API server: signing key; controller-manager: legacy token controller). */
  serviceAccountKey: string;
  /** Verifies ServiceAccount tokens (API server). */
  serviceAccountPub: string;
  /** Client identities, one certificate and key each. */
  clients: Record<ClientIdentity, { cert: string; key: string }>;
  /**
   * The request-header (front-proxy) CA and the API server's client
   * certificate under it. The API server publishes this CA in
   * kube-system/extension-apiserver-authentication; the controller-manager and
   * the scheduler read it for their own authentication and log errors every
   * few seconds while it is missing. It also lets API aggregation work.
   */
  frontProxyCaCert: string;
  frontProxyCaKey: string;
  frontProxyClient: { cert: string; key: string };
  /** Serving certificates of the components that serve /healthz over TLS, so health checks verify them against the CA. */
  serving: Record<'kube-controller-manager' | 'kube-scheduler', { cert: string; key: string }>;
}

export type ClientIdentity =
  | 'admin'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubelet'
  | 'kube-proxy';

export const nodeName = 'lastcall-node';

/**
 * Who each client certificate says it is. The API server maps CN to the user
 * name and O to groups; the bootstrap RBAC policy binds these names:
 *  - system:masters is bound to cluster-admin,
 *  - system:kube-controller-manager / system:kube-scheduler to their roles,
 *  - system:node:<name> in system:nodes is what the Node authorizer and the
 *    NodeRestriction admission plugin recognise as that node's kubelet,
 *  - system:kube-proxy to system:node-proxier.
 */
const clientSubjects: Record<ClientIdentity, { cn: string; o?: string }> = {
  admin: { cn: 'lastcall-admin', o: 'system:masters' },
  'kube-controller-manager': { cn: 'system:kube-controller-manager' },
  'kube-scheduler': { cn: 'system:kube-scheduler' },
  kubelet: { cn: `system:node:${nodeName}`, o: 'system:nodes' },
  'kube-proxy': { cn: 'system:kube-proxy' },
};

/**
 * Names the API server's certificate must cover: loopback for everything on
 * this machine, the in-cluster service names, and the `kubernetes` Service's
 * ClusterIP (the first address of this cluster's --service-cluster-ip-range,
 * network-plan.ts; the API server allocates it to default/kubernetes).
 */
function apiserverNames(kubernetesServiceIP: string) {
  return {
    dns: [
      'localhost',
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local',
    ],
    ip: ['127.0.0.1', kubernetesServiceIP],
  };
}

const validDays = 3650;

/** A minimal openssl config, so the distribution's openssl.cnf defaults do not leak into the certificates. */
const reqConfig = '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n';

const identities = Object.keys(clientSubjects) as ClientIdentity[];

/** Where the PKI's files live in `dir` (createPki writes them there). */
export function pkiLayout(dir: string): Pki {
  const path = (name: string) => join(dir, name);
  const pair = (name: string) => ({ cert: path(`${name}.crt`), key: path(`${name}.key`) });
  return {
    dir,
    caCert: path('ca.crt'),
    caKey: path('ca.key'),
    apiserverCert: path('apiserver.crt'),
    apiserverKey: path('apiserver.key'),
    serviceAccountKey: path('sa.key'),
    serviceAccountPub: path('sa.pub'),
    frontProxyCaCert: path('front-proxy-ca.crt'),
    frontProxyCaKey: path('front-proxy-ca.key'),
    frontProxyClient: pair('front-proxy-client'),
    clients: Object.fromEntries(
      identities.map((identity) => [identity, pair(`client-${identity}`)]),
    ) as Pki['clients'],
    serving: {
      'kube-controller-manager': pair('kube-controller-manager-serving'),
      'kube-scheduler': pair('kube-scheduler-serving'),
    },
  };
}

/**
 * Makes a fresh CA and every key and certificate the cluster uses, in `dir`.
 * `kubernetesServiceIP`: the first address of the cluster's service range.
 */
export async function createPki(dir: string, opts: { kubernetesServiceIP: string }): Promise<Pki> {
  const pki = pkiLayout(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const configFile = join(dir, 'openssl.cnf');
  await writeFile(configFile, reqConfig);

  await Promise.all([
    createCa(pki.caKey, pki.caCert, 'lastcall-ca', dir),
    createCa(pki.frontProxyCaKey, pki.frontProxyCaCert, 'lastcall-front-proxy-ca', dir),
  ]);

  const ca = { caCert: pki.caCert, caKey: pki.caKey, configFile };
  const loopback = { dns: ['localhost'], ip: ['127.0.0.1'] };
  await Promise.all([
    signedPair({
      ...ca,
      pair: { cert: pki.apiserverCert, key: pki.apiserverKey },
      subject: { cn: 'kube-apiserver' },
      usage: 'serverAuth',
      sans: apiserverNames(opts.kubernetesServiceIP),
    }),
    signedPair({
      ...ca,
      pair: pki.serving['kube-controller-manager'],
      subject: { cn: 'kube-controller-manager' },
      usage: 'serverAuth',
      sans: loopback,
    }),
    signedPair({
      ...ca,
      pair: pki.serving['kube-scheduler'],
      subject: { cn: 'kube-scheduler' },
      usage: 'serverAuth',
      sans: loopback,
    }),
    signedPair({
      caCert: pki.frontProxyCaCert,
      caKey: pki.frontProxyCaKey,
      configFile,
      pair: pki.frontProxyClient,
      subject: { cn: 'front-proxy-client' },
      usage: 'clientAuth',
      sans: undefined,
    }),
    ...identities.map((identity) =>
      signedPair({
        ...ca,
        pair: pki.clients[identity],
        subject: clientSubjects[identity],
        usage: 'clientAuth',
        sans: undefined,
      }),
    ),
  ]);

  await generateKey(pki.serviceAccountKey);
  await openssl(['pkey', '-in', pki.serviceAccountKey, '-pubout', '-out', pki.serviceAccountPub]);
  return pki;
}

async function createCa(key: string, cert: string, commonName: string, dir: string): Promise<void> {
  await generateKey(key);
  // `req -x509` takes its extensions from the config file's section.
  const config = join(dir, `${commonName}.cnf`);
  await writeFile(
    config,
    `${reqConfig}[v3]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, digitalSignature, keyEncipherment, keyCertSign\nsubjectKeyIdentifier = hash\n`,
  );
  // biome-ignore format: one openssl option per pair reads best
  await openssl([
    'req', '-x509', '-new', '-key', key, '-subj', `/CN=${commonName}`, '-days', String(validDays),
    '-config', config, '-extensions', 'v3', '-out', cert,
  ]);
  await rm(config);
}

async function signedPair(opts: {
  pair: { cert: string; key: string };
  subject: { cn: string; o?: string };
  usage: 'clientAuth' | 'serverAuth';
  sans: { dns: string[]; ip: string[] } | undefined;
  caCert: string;
  caKey: string;
  configFile: string;
}): Promise<void> {
  const { cert, key } = opts.pair;
  const base = cert.replace(/\.crt$/, '');
  const csr = `${base}.csr`;
  const ext = `${base}.ext`;
  await generateKey(key);
  const subject = `${opts.subject.o === undefined ? '' : `/O=${opts.subject.o}`}/CN=${opts.subject.cn}`;
  await openssl(['req', '-new', '-key', key, '-subj', subject, '-config', opts.configFile, '-out', csr]);
  const lines = [
    '[v3]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    `extendedKeyUsage = ${opts.usage}`,
    'authorityKeyIdentifier = keyid',
  ];
  if (opts.sans !== undefined) {
    const names = [...opts.sans.dns.map((dns) => `DNS:${dns}`), ...opts.sans.ip.map((ip) => `IP:${ip}`)];
    lines.push(`subjectAltName = ${names.join(', ')}`);
  }
  await writeFile(ext, `${lines.join('\n')}\n`);
  // biome-ignore format: one openssl option per pair reads best
  await openssl([
    'x509', '-req', '-in', csr, '-CA', opts.caCert, '-CAkey', opts.caKey,
    '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', String(validDays),
    '-extfile', ext, '-extensions', 'v3', '-out', cert,
  ]);
  await Promise.all([rm(csr), rm(ext)]);
}

async function generateKey(file: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
  await chmod(file, 0o600);
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim() || (error as Error).message;
    throw new Error(`openssl ${args[0]} failed: ${detail}`);
  }
}

/**
 * Writes a kubeconfig with the CA and the identity's certificate embedded, so
 * the file works alone (kubectl, client libraries, copied elsewhere). The
 * context is named `lastcall` (docs/architecture.md).
 */
export async function writeKubeconfig(
  file: string,
  opts: { server: string; caCert: string; cert: string; key: string; user: string },
): Promise<void> {
  const b64 = async (path: string) => (await readFile(path)).toString('base64');
  const text = [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: lastcall',
    '  cluster:',
    `    server: ${opts.server}`,
    `    certificate-authority-data: ${await b64(opts.caCert)}`,
    'users:',
    `- name: ${opts.user}`,
    '  user:',
    `    client-certificate-data: ${await b64(opts.cert)}`,
    `    client-key-data: ${await b64(opts.key)}`,
    'contexts:',
    '- name: lastcall',
    '  context:',
    '    cluster: lastcall',
    `    user: ${opts.user}`,
    'current-context: lastcall',
    '',
  ].join('\n');
  await writeFile(file, text, { mode: 0o600 });
}
