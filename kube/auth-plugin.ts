import type { Credentials } from './kubeconfig.ts';

/**
 * Credentials for a kubeconfig whose user needs an exec plugin or an auth provider (cloud logins,
 * OIDC), through @kubernetes/client-node's KubeConfig. Imported lazily and only for such
 * kubeconfigs: loading that library brings every generated API model with it and costs about
 * 90 MB of resident memory, more than the whole operator with a thousand CounterServices cached.
 */
export async function authPluginCredentials(path: string, context?: string): Promise<Credentials> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(path);
  if (context) kubeConfig.setCurrentContext(context);
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error(`${path}: no current cluster (set current-context or KUBECONFIG)`);
  const tls: Record<string, unknown> = {};
  await kubeConfig.applyToHTTPSOptions(tls);
  const picked: Credentials['tls'] = {};
  for (const field of ['ca', 'cert', 'key', 'rejectUnauthorized', 'servername'] as const) {
    if (tls[field] !== undefined) (picked as Record<string, unknown>)[field] = tls[field];
  }
  return {
    server: cluster.server,
    tls: picked,
    // The plugin decides when its token expires: ask it again each time the client re-reads.
    headers: async () => {
      const opts: { headers?: Record<string, string> } = {};
      await kubeConfig.applyToHTTPSOptions(opts);
      return opts.headers ?? {};
    },
  };
}
