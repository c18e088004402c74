/**
 * What a run (the experiment's, the soak's) sets up on the cluster before its load: lastcall and
 * the sample Redis installed, then a CounterService of its own with a fresh counter key.
 */
import {
  assertInstalled,
  type Cluster,
  type CounterServicePlan,
  connect,
  createCounterService,
  deleteCounterService,
  ensureNamespace,
  installLastcall,
  installRedis,
  readCounterService,
} from './kube.ts';

/** Where a run's cluster is: its kubeconfig and the tools bin dir (kubectl and vegeta). */
export interface ClusterTarget {
  kubeconfig: string;
  /** the tools bin dir: kubectl and vegeta */
  binDir: string;
}

export interface RunHooks {
  /** progress and setup lines; default: none */
  log?: (line: string) => void;
}

/** Installs lastcall (config/default) and the sample Redis in the experiment's namespace. Idempotent. */
export async function prepare(
  target: ClusterTarget,
  namespace: string,
  hooks: RunHooks = {},
  skipInstall = false,
): Promise<void> {
  const log = hooks.log ?? (() => {});
  const cluster = await connect(target.kubeconfig, target.binDir);
  if (skipInstall) await assertInstalled(cluster);
  else await installLastcall(cluster, log);
  await ensureNamespace(cluster, namespace);
  await installRedis(cluster, namespace, log);
}

/** The run's CounterService as the waits, the sampler and the final count address it. */
export interface RunCounterService {
  namespace: string;
  name: string;
  replicas: number;
  nodePort: number;
  /** this run's own key: a count for another key is not this run's */
  counterKey: string;
}

/**
 * Creates the run's CounterService, first removing one an earlier run left under the same name,
 * with a counter key of its own: `<keyPrefix>:<startedAt to the millisecond>`. A fresh key per run
 * makes the counter start at zero without reaching into Redis.
 */
export async function freshCounterService(
  cluster: Cluster,
  plan: Omit<CounterServicePlan, 'counterKey'>,
  key: { prefix: string; startedAt: string },
  log: (line: string) => void,
): Promise<RunCounterService> {
  const { namespace, name, replicas, nodePort } = plan;
  if ((await readCounterService(cluster, namespace, name)) !== undefined) {
    log(`setup: removing the CounterService ${namespace}/${name} of an earlier run`);
    await deleteCounterService(cluster, namespace, name);
  }
  const counterKey = `${key.prefix}:${key.startedAt.replace(/[^0-9]/g, '').slice(0, 17)}`;
  await createCounterService(cluster, { ...plan, counterKey });
  return { namespace, name, replicas, nodePort, counterKey };
}
