import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

/**
 * How to reach the API server: base URL, TLS material and headers. Two ways to get it from a
 * kubeconfig: through @kubernetes/client-node's KubeConfig (the kubelet: exec plugins, OIDC, every
 * kubeconfig form), or a minimal reader for the certificate/token kubeconfigs the launcher writes
 * (the proxy: loading client-node costs about 90 MB of resident memory, for a program that needs
 * two watches).
 */
export interface ApiConnection {
  server: URL;
  ca?: string | Buffer | undefined;
  cert?: string | Buffer | undefined;
  key?: string | Buffer | undefined;
  headers: Record<string, string>;
  rejectUnauthorized: boolean;
}

export async function clientNodeConnection(file: string): Promise<ApiConnection> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`kubeconfig "${file}" has no current cluster`);
  const opts: import('node:https').RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k] = String(v);
  return {
    server: new URL(cluster.server),
    ca: opts.ca as string | Buffer | undefined,
    cert: opts.cert as string | Buffer | undefined,
    key: opts.key as string | Buffer | undefined,
    headers,
    rejectUnauthorized: !cluster.skipTLSVerify,
  };
}

interface Named<T> {
  name: string;
  [k: string]: unknown;
  value?: T;
}

function pick<T>(list: unknown, name: string, field: string, file: string): T {
  const found = (list as Named<T>[] | undefined)?.find((x) => x.name === name);
  if (!found) throw new Error(`kubeconfig "${file}": ${field} "${name}" not found`);
  return found[field] as T;
}

export function minimalConnection(file: string): ApiConnection {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const contextName = doc['current-context'] as string | undefined;
  if (!contextName) throw new Error(`kubeconfig "${file}": current-context is not set`);
  const context = pick<{ cluster: string; user: string }>(doc.contexts, contextName, 'context', file);
  const cluster = pick<Record<string, string | boolean>>(doc.clusters, context.cluster, 'cluster', file);
  const user = pick<Record<string, string>>(doc.users, context.user, 'user', file) ?? {};
  const dir = dirname(file);
  const material = (data: string | undefined, path: string | undefined): Buffer | undefined => {
    if (data) return Buffer.from(data, 'base64');
    if (path) return readFileSync(isAbsolute(path) ? path : join(dir, path));
    return undefined;
  };
  const headers: Record<string, string> = {};
  const token = user.token ?? (user.tokenFile ? readFileSync(user.tokenFile, 'utf8').trim() : undefined);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (user.exec || user['auth-provider']) {
    throw new Error(
      `kubeconfig "${file}": user "${context.user}" uses exec/auth-provider; use clientNodeConnection`,
    );
  }
  return {
    server: new URL(String(cluster.server)),
    ca: material(cluster['certificate-authority-data'] as string, cluster['certificate-authority'] as string),
    cert: material(user['client-certificate-data'], user['client-certificate']),
    key: material(user['client-key-data'], user['client-key']),
    headers,
    rejectUnauthorized: cluster['insecure-skip-tls-verify'] !== true,
  };
}
