import { authPluginCredentials } from './auth-plugin.ts';
import { type ClientOptions, KubeClient } from './client.ts';
import {
  inClusterCredentials,
  kubeconfigCredentials,
  NeedsAuthPlugin,
  resolveKubeconfigPath,
} from './kubeconfig.ts';

interface ConnectOptions extends ClientOptions {
  /** A kubeconfig file; unset: in a pod the ServiceAccount, else $KUBECONFIG, else ~/.kube/config. */
  kubeconfig?: string | undefined;
  /** A context of that kubeconfig other than its current-context. */
  context?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Told when the kubeconfig needs client-node's auth plugins (worth a log line: it costs ~90 MB). */
  onAuthPlugin?: (reason: string) => void;
}

/**
 * A client from wherever the credentials are: an explicit kubeconfig, the pod's ServiceAccount,
 * $KUBECONFIG or ~/.kube/config (resolveKubeconfigPath). Certificate, token and basic-auth
 * kubeconfigs are read by kubeconfig.ts; only those that need an exec plugin or auth provider load
 * @kubernetes/client-node (auth-plugin.ts).
 */
export async function connectKube(opts: ConnectOptions = {}): Promise<KubeClient> {
  const { kubeconfig, context, env, onAuthPlugin, ...clientOptions } = opts;
  const source = resolveKubeconfigPath(kubeconfig, env);
  if (source.kind === 'in-cluster') return KubeClient.connect(inClusterCredentials(env), clientOptions);
  try {
    return await KubeClient.connect(kubeconfigCredentials(source.path, context), clientOptions);
  } catch (err) {
    if (!(err instanceof NeedsAuthPlugin)) throw err;
    onAuthPlugin?.(err.message);
    return KubeClient.connect(await authPluginCredentials(source.path, context), clientOptions);
  }
}
