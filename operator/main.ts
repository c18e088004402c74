// The lastcall operator process: wiring only. Configuration, API client, caches (reflectors),
// leader election, the CounterService controller, probe and metrics servers, graceful shutdown.
import pino from 'pino';
import { FIELD_MANAGER } from './api/constants.ts';
import type { CounterService, DrainPolicy } from './api/types.ts';
import { COUNTER_SERVICE_LABEL, OWNED_SELECTOR } from './desired/index.ts';
import { DrainLedger, type PodLike, trimPod } from './drains.ts';
import {
  CounterServiceReconciler,
  counterServiceType,
  type Deployment,
  drainPolicyType,
  keysFor,
} from './reconciler.ts';
import { Applier } from './runtime/apply.ts';
import { KubeClient } from './runtime/client.ts';
import { Controller } from './runtime/controller.ts';
import { EventRecorder } from './runtime/events.ts';
import {
  inClusterCredentials,
  kubeconfigCredentials,
  NeedsAuthPlugin,
  resolveKubeconfigPath,
} from './runtime/kubeconfig.ts';
import { LeaderElector } from './runtime/leader.ts';
import { createMetrics } from './runtime/metrics.ts';
import { type OperatorOptions, OptionsError, parseOptions } from './runtime/options.ts';
import { Reflector } from './runtime/reflector.ts';
import { coreTypes, type KubeObject, type ResourceType } from './runtime/resources.ts';
import { startMetricsServer, startProbeServer } from './runtime/servers.ts';
import { dropManagedFields } from './runtime/store.ts';

let options: OperatorOptions;
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof OptionsError)) throw err;
  process.stderr.write(`lastcall-operator: ${err.message}\n`);
  process.exit(2);
}

const log = pino({
  level: options.logLevel,
  base: { component: 'lastcall-operator', identity: options.identity },
});
const metrics = createMetrics();

const client = await connect(options).catch((err: Error) => {
  log.fatal({ err: err.message }, 'could not load the API server credentials');
  log.flush();
  process.exit(2);
});
client.observe(({ verb, resource, code, seconds }) => {
  metrics.apiRequests.inc({ verb, resource, code: String(code) });
  if (verb !== 'watch') metrics.apiRequestDuration.observe({ verb }, seconds);
});
log.info(
  { server: client.server, leaderElect: options.leaderElect, concurrency: options.concurrency },
  'starting',
);

/** The API client: our own kubeconfig reader, or client-node's for auth plugins (loaded only then). */
async function connect(opts: OperatorOptions): Promise<KubeClient> {
  const userAgent = `lastcall-operator/${opts.identity}`;
  const source = resolveKubeconfigPath(opts.kubeconfig);
  if (source.kind === 'in-cluster') return KubeClient.connect(inClusterCredentials(), { userAgent });
  try {
    return await KubeClient.connect(kubeconfigCredentials(source.path), { userAgent });
  } catch (err) {
    if (!(err instanceof NeedsAuthPlugin)) throw err;
    log.info({ reason: err.message }, 'using @kubernetes/client-node for this kubeconfig');
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(source.path);
    return KubeClient.fromKubeConfig(kubeConfig, { userAgent });
  }
}

function reflect<T extends KubeObject>(
  type: ResourceType,
  selectors: { labelSelector?: string; fieldSelector?: string } = {},
  transform: (obj: T) => T = dropManagedFields,
): Reflector<T> {
  return new Reflector<T>({
    client,
    type,
    log,
    ...selectors,
    transform,
    namespace: type.namespaced ? options.watchNamespace : undefined,
    watchTimeoutSeconds: options.watchTimeoutSeconds,
    onRestart: (reason) => metrics.watchRestarts.inc({ resource: type.plural, reason }),
  });
}

// Owned objects carry the managed-by label (desired/labels.ts): watching only those keeps the
// cache small in a cluster full of other Deployments.
const counterServices = reflect<CounterService & KubeObject>(counterServiceType);
const deployments = reflect<Deployment>(coreTypes.deployment, { labelSelector: OWNED_SELECTOR });
const services = reflect(coreTypes.service, { labelSelector: OWNED_SELECTOR });
const podDisruptionBudgets = reflect(coreTypes.podDisruptionBudget, { labelSelector: OWNED_SELECTOR });
const drainPolicies = reflect<DrainPolicy & KubeObject>(drainPolicyType);
const namespaces = reflect(
  coreTypes.namespace,
  options.watchNamespace ? { fieldSelector: `metadata.name=${options.watchNamespace}` } : {},
);
const pods = reflect<PodLike>(coreTypes.pod, { labelSelector: COUNTER_SERVICE_LABEL }, trimPod);
const reflectors = [
  counterServices,
  deployments,
  services,
  podDisruptionBudgets,
  drainPolicies,
  namespaces,
  pods,
];

const ledger = new DrainLedger();
const reconciler = new CounterServiceReconciler({
  counterServices: counterServices.store,
  deployments: deployments.store,
  services: services.store,
  podDisruptionBudgets: podDisruptionBudgets.store,
  drainPolicies: drainPolicies.store,
  namespaces: namespaces.store,
  applier: new Applier(client, FIELD_MANAGER, metrics),
  recorder: new EventRecorder({ client, log, component: FIELD_MANAGER, instance: options.identity }),
  ledger,
  log,
  onDrainRecorded: (record) => metrics.drains.inc({ outcome: record.outcome }),
});
const controller = new Controller({
  name: 'counterservice',
  reconcile: reconciler.reconcile,
  log,
  metrics,
  concurrency: options.concurrency,
});
controller.watch(counterServices, keysFor.counterService);
for (const owned of [deployments, services, podDisruptionBudgets]) controller.watch(owned, keysFor.owned);
controller.watch(drainPolicies, keysFor.drainPolicy(counterServices.store, namespaces.store));
controller.watch(namespaces, keysFor.namespace(counterServices.store));
controller.watch(pods, (change) => {
  const key = ledger.observe(change);
  return key ? [key] : [];
});

const elector = options.leaderElect
  ? new LeaderElector({
      client,
      namespace: options.leaseNamespace,
      name: options.leaseName,
      identity: options.identity,
      log,
      leaseDurationMs: options.leaseDurationSeconds * 1000,
      renewDeadlineMs: options.renewDeadlineSeconds * 1000,
      retryPeriodMs: options.retryPeriodSeconds * 1000,
    })
  : undefined;

const [probes, metricsServer] = await Promise.all([
  startProbeServer({
    host: options.bindAddress,
    port: options.healthPort,
    healthz: { ping: () => undefined },
    // Ready once the caches are filled; a standby replica is ready too (it serves probes and metrics
    // and takes over at once), leadership is not readiness.
    readyz: {
      'informers-synced': () => {
        const waiting = reflectors.filter((r) => !r.synced).map((r) => r.type.plural);
        return waiting.length ? `waiting for ${waiting.join(', ')}` : undefined;
      },
    },
  }),
  startMetricsServer({ host: options.bindAddress, port: options.metricsPort, registry: metrics.registry }),
]).catch((err: Error) => {
  // EADDRINUSE and friends: say which address, do not die of an unhandled rejection.
  log.fatal({ err: err.message, bindAddress: options.bindAddress }, 'could not listen');
  log.flush();
  process.exit(1);
});
log.info({ healthPort: probes.port, metricsPort: metricsServer.port }, 'listening');

const stopping = new AbortController();
let exitCode = 0;
let shutdown: Promise<void> | undefined;

function stop(reason: string, code = 0): Promise<void> {
  exitCode = Math.max(exitCode, code);
  shutdown ??= (async () => {
    log.info({ reason }, 'shutting down: no new reconciles, finishing the ones in flight');
    stopping.abort();
    const deadline = setTimeout(() => {
      log.error(
        { timeoutSeconds: options.shutdownTimeoutSeconds },
        'shutdown deadline passed, exiting anyway',
      );
      log.flush();
      process.exit(1);
    }, options.shutdownTimeoutSeconds * 1000);
    deadline.unref();
    await controller.stop();
    // Only after the last reconcile: the next leader must not start while we still write.
    await elector?.release();
    metrics.leader.set(0);
    await Promise.all(reflectors.map((r) => r.stop()));
    await Promise.all([probes.close(), metricsServer.close()]);
    await client.close();
    log.info({ exitCode }, 'stopped');
    log.flush();
    clearTimeout(deadline);
    process.exitCode = exitCode;
  })();
  return shutdown;
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));

for (const reflector of reflectors) reflector.start();

if (elector) {
  const leading = await elector.acquire(stopping.signal);
  if (leading) {
    elector.keepRenewing((reason) => {
      // Another replica may take over once the lease expires: stop acting at once, as
      // controller-runtime does, and let the restart start over as a candidate.
      void stop(`lost leadership: ${reason}`, 1);
    });
  }
}
if (!stopping.signal.aborted) {
  metrics.leader.set(1);
  await Promise.all(reflectors.map((r) => r.waitForSync()));
  // Everything known gets one reconcile; the handlers already queued most, the queue dedups.
  for (const key of counterServices.store.keys()) controller.enqueue(key);
  controller.start();
  log.info({ counterServices: counterServices.store.size }, 'caches synced, reconciling');
}
