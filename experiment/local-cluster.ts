/**
 * The local cluster behind a kubeconfig, when there is one: the endpoint delay and the faults act
 * on its processes (the service proxy, kube-apiserver, the kubelet's pod process groups), which a
 * remote cluster does not let the experiment reach.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The state dir of the local cluster whose admin kubeconfig this is (<state>/kubeconfig); undefined for any other cluster. */
export function localStateDirOf(kubeconfig: string): string | undefined {
  const dir = dirname(resolve(kubeconfig));
  const file = join(dir, 'cluster.json');
  if (!existsSync(file)) return undefined;
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as { kubeconfig?: string };
    return state.kubeconfig !== undefined && resolve(state.kubeconfig) === resolve(kubeconfig)
      ? dir
      : undefined;
  } catch {
    return undefined;
  }
}

/** The state dir, or an error that says why an option needs the local cluster. */
export function requireLocalCluster(kubeconfig: string, option: string): string {
  const stateDir = localStateDirOf(kubeconfig);
  if (stateDir === undefined) {
    throw new Error(
      `${option} needs the local cluster (npm run cluster): it acts on the cluster's own processes, ` +
        `and ${kubeconfig} is not a local cluster's kubeconfig. Unset KUBECONFIG to use the local cluster.`,
    );
  }
  return stateDir;
}
