import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

/**
 * Where the API server is and how to authenticate to it: what the client needs from a kubeconfig
 * or from the pod's ServiceAccount.
 *
 * Reading kubeconfig here, not with @kubernetes/client-node, keeps the operator small: importing
 * that library loads every generated API model and costs about 90 MB of resident memory, more than
 * the rest of the operator with a thousand CounterServices cached. Client certificates, bearer
 * tokens and token files are read here; kubeconfigs that need an exec plugin or an auth provider
 * (cloud logins) fall back to the library (auth-plugin.ts, loaded only for them).
 */
export interface Credentials {
  server: string;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; servername?: string };
  /** Request headers (Authorization); called again when credentials may have rotated. */
  headers: () => Promise<Record<string, string>>;
}

export class KubeconfigError extends Error {
  override name = 'KubeconfigError';
}

/** Thrown for kubeconfigs whose user needs an exec plugin or auth provider. */
export class NeedsAuthPlugin extends KubeconfigError {}

const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

/** In a pod: the API server from KUBERNETES_SERVICE_HOST/PORT, the ServiceAccount token and CA. */
export function inClusterCredentials(
  env: NodeJS.ProcessEnv = process.env,
  dir = serviceAccountDir,
): Credentials {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new KubeconfigError(
      'in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both be set',
    );
  }
  const tokenFile = join(dir, 'token');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    tls: { ca: readRequired(join(dir, 'ca.crt'), 'in-cluster CA') },
    // Projected tokens are rotated by the kubelet: read the file again each time we are asked.
    headers: async () => ({
      authorization: `Bearer ${readRequired(tokenFile, 'in-cluster token').toString().trim()}`,
    }),
  };
}

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: Array<{ name: string; context?: { cluster?: string; user?: string } }>;
  clusters?: Array<{
    name: string;
    cluster?: {
      server?: string;
      'certificate-authority'?: string;
      'certificate-authority-data'?: string;
      'insecure-skip-tls-verify'?: boolean;
      'tls-server-name'?: string;
      'proxy-url'?: string;
    };
  }>;
  users?: Array<{
    name: string;
    user?: {
      'client-certificate'?: string;
      'client-certificate-data'?: string;
      'client-key'?: string;
      'client-key-data'?: string;
      token?: string;
      tokenFile?: string;
      username?: string;
      password?: string;
      exec?: unknown;
      'auth-provider'?: unknown;
    };
  }>;
}

/** Reads a kubeconfig file (its current context, or `context`). Errors name the file and the field. */
export function kubeconfigCredentials(path: string, context?: string): Credentials {
  const text = readRequired(path, 'kubeconfig').toString();
  let config: KubeconfigFile;
  try {
    config = parse(text) as KubeconfigFile;
  } catch (err) {
    throw new KubeconfigError(`${path}: not valid YAML: ${(err as Error).message}`);
  }
  const base = dirname(path);
  const contextName = context ?? config['current-context'];
  if (!contextName) throw new KubeconfigError(`${path}: current-context is not set`);
  const ctx = config.contexts?.find((c) => c.name === contextName)?.context;
  if (!ctx) throw new KubeconfigError(`${path}: context "${contextName}" not found in contexts`);
  const cluster = config.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster?.server) throw new KubeconfigError(`${path}: cluster "${ctx.cluster}" has no server`);
  if (cluster['proxy-url']) throw new NeedsAuthPlugin(`${path}: cluster "${ctx.cluster}" uses proxy-url`);
  const user = config.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (user.exec || user['auth-provider']) {
    throw new NeedsAuthPlugin(`${path}: user "${ctx.user}" needs an exec plugin or auth provider`);
  }
  const file = (name: string | undefined) =>
    name ? (isAbsolute(name) ? name : join(base, name)) : undefined;
  const data = (
    inline: string | undefined,
    fileName: string | undefined,
    field: string,
  ): Buffer | undefined => {
    if (inline) return Buffer.from(inline, 'base64');
    const resolved = file(fileName);
    return resolved ? readRequired(resolved, `${path}: ${field}`) : undefined;
  };
  const tls: Credentials['tls'] = {};
  const ca = data(
    cluster['certificate-authority-data'],
    cluster['certificate-authority'],
    'certificate-authority',
  );
  if (ca) tls.ca = ca;
  const cert = data(user['client-certificate-data'], user['client-certificate'], 'client-certificate');
  if (cert) tls.cert = cert;
  const key = data(user['client-key-data'], user['client-key'], 'client-key');
  if (key) tls.key = key;
  if (cluster['insecure-skip-tls-verify']) tls.rejectUnauthorized = false;
  if (cluster['tls-server-name']) tls.servername = cluster['tls-server-name'];
  const tokenFile = file(user.tokenFile);
  const headers = async (): Promise<Record<string, string>> => {
    if (user.token) return { authorization: `Bearer ${user.token}` };
    if (tokenFile)
      return { authorization: `Bearer ${readRequired(tokenFile, `${path}: tokenFile`).toString().trim()}` };
    if (user.username !== undefined) {
      return {
        authorization: `Basic ${Buffer.from(`${user.username}:${user.password ?? ''}`).toString('base64')}`,
      };
    }
    return {};
  };
  return { server: cluster.server, tls, headers };
}

/**
 * The usual order: an explicit file; in a pod (KUBERNETES_SERVICE_HOST set) the ServiceAccount;
 * else the first file in KUBECONFIG; else ~/.kube/config.
 */
export function resolveKubeconfigPath(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env) {
  if (explicit) return { kind: 'file' as const, path: explicit };
  if (env.KUBERNETES_SERVICE_HOST) return { kind: 'in-cluster' as const };
  const fromEnv = env.KUBECONFIG?.split(':').find(Boolean);
  return { kind: 'file' as const, path: fromEnv ?? join(homedir(), '.kube', 'config') };
}

function readRequired(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new KubeconfigError(`${what}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}
