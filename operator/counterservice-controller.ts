// The CounterService controller, set up in one place (controller-runtime's SetupWithManager): the
// caches it reads, the reconciler, and which watched changes enqueue which CounterService.
import type { Logger } from 'pino';
import type { KubeClient } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import { EventRecorder } from '../kube/events.ts';
import { type Change, Reflector } from '../kube/reflector.ts';
import { coreTypes, type KubeObject, objectKey, type ResourceType, resourcePath } from '../kube/resources.ts';
import { dropManagedFields } from '../kube/store.ts';
import { COUNTER_SERVICE_KIND, FIELD_MANAGER, GROUP } from './api/constants.ts';
import { counterServiceType, drainPolicyType } from './api/resources.ts';
import type { CounterService, DrainPolicy } from './api/types.ts';
import { registerCounterServiceMetrics } from './counterservice-metrics.ts';
import { COUNTER_SERVICE_LABEL, OWNED_SELECTOR } from './desired/index.ts';
import { DrainLedger, type PodLike, trimPod } from './drains.ts';
import { policyMatchesNamespace } from './policy.ts';
import { PolicyRollouts, rolloutSettled } from './policy-rollouts.ts';
import { CounterServiceReconciler } from './reconciler.ts';
import { Applier, hashOf } from './runtime/apply.ts';
import { Controller } from './runtime/controller.ts';
import type { Metrics } from './runtime/metrics.ts';
import type { OperatorOptions } from './runtime/options.ts';
import type { Deployment } from './status.ts';

interface CounterServiceControllerOptions {
  client: KubeClient;
  log: Logger;
  metrics: Metrics;
  options: Pick<OperatorOptions, 'watchNamespace' | 'watchTimeoutSeconds' | 'concurrency' | 'identity'>;
  /** Aborting it cancels the reconciles in flight (see Controller). */
  signal?: AbortSignal;
}

interface CounterServiceController {
  /** Every cache the controller reads; start them before `run()`, stop them after `stop()`. */
  reflectors: Reflector<KubeObject>[];
  /** Waits for the caches, enqueues every CounterService once, starts the workers. */
  run(): Promise<void>;
  /** Takes no new keys and waits for the reconciles in flight (aborted ones end at their next write). */
  stop(): Promise<void>;
  /** CounterServices cached (for the start-up log). */
  readonly size: number;
}

export function setupCounterServiceController(
  opts: CounterServiceControllerOptions,
): CounterServiceController {
  const { client, log, metrics, options } = opts;

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

  const ledger = new DrainLedger();
  const counterServiceMetrics = registerCounterServiceMetrics(metrics.registry, counterServices.store);
  const rollouts = new PolicyRollouts();
  const reconciler = new CounterServiceReconciler({
    counterServices: counterServices.store,
    deployments: deployments.store,
    services: services.store,
    podDisruptionBudgets: podDisruptionBudgets.store,
    drainPolicies: drainPolicies.store,
    namespaces: namespaces.store,
    applier: new Applier(client, FIELD_MANAGER, metrics),
    lookup: async (type, namespace, name, signal) => {
      try {
        return await client.request<KubeObject>('GET', resourcePath(type, { namespace, name }), { signal });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    recorder: new EventRecorder({
      client,
      log,
      component: FIELD_MANAGER,
      instance: options.identity,
      // A replica that lost its lease posts no more events, and cancels those in flight.
      signal: opts.signal,
    }),
    ledger,
    rollouts,
    log,
    onDrainRecorded: (record, key) => {
      metrics.drains.inc({ outcome: record.outcome });
      counterServiceMetrics.drainRecorded(key, record);
    },
  });
  const controller = new Controller({
    name: 'counterservice',
    reconcile: reconciler.reconcile,
    log,
    metrics,
    concurrency: options.concurrency,
    signal: opts.signal,
  });
  controller.watch(counterServices, keysFor.counterService);
  for (const owned of [deployments, services, podDisruptionBudgets]) controller.watch(owned, keysFor.owned);
  // A rollout that settles frees a slot for the policy rollouts waiting for one.
  controller.watch(deployments, (change) =>
    change.type === 'deleted' ||
    (change.type === 'updated' && !rolloutSettled(change.old) && rolloutSettled(change.object))
      ? rollouts.waiting()
      : [],
  );
  controller.watch(drainPolicies, keysFor.drainPolicy(counterServices.store, namespaces.store));
  controller.watch(namespaces, keysFor.namespace(counterServices.store));
  controller.watch(pods, (change) => {
    const key = ledger.observe(change);
    return key ? [key] : [];
  });

  const reflectors = [
    counterServices,
    deployments,
    services,
    podDisruptionBudgets,
    drainPolicies,
    namespaces,
    pods,
  ] as Reflector<KubeObject>[];
  return {
    reflectors,
    async run() {
      await Promise.all(reflectors.map((r) => r.waitForSync()));
      // Everything known gets one reconcile; the handlers already queued most, the queue dedups.
      for (const key of counterServices.store.keys()) controller.enqueue(key);
      controller.start();
    },
    stop: () => controller.stop(),
    get size() {
      return counterServices.store.size;
    },
  };
}

interface Lister {
  list(): KubeObject[];
}

/** Keys to reconcile when a watched object changes. */
const keysFor = {
  counterService: (change: Change<KubeObject>): string[] => [objectKey(change.object)],
  /** Owned objects map to their controlling CounterService. */
  owned: (change: Change<KubeObject>): string[] => {
    const owner = change.object.metadata.ownerReferences?.find(
      (ref) => ref.controller && ref.kind === COUNTER_SERVICE_KIND && ref.apiVersion.startsWith(`${GROUP}/`),
    );
    return owner ? [`${change.object.metadata.namespace}/${owner.name}`] : [];
  },
  /** A policy change affects the CounterServices in namespaces its old or new selector matches. */
  drainPolicy:
    (counterServices: Lister, namespaces: { get(key: string): KubeObject | undefined }) =>
    (change: Change<DrainPolicy & KubeObject>): string[] => {
      const versions = change.type === 'updated' ? [change.old, change.object] : [change.object];
      return counterServices.list().flatMap((cs) => {
        const ns = cs.metadata.namespace ?? '';
        const labels = namespaces.get(ns)?.metadata.labels ?? {};
        // A deleted policy no longer matches anything; it still affected its namespaces.
        const affected = versions.some((p) =>
          policyMatchesNamespace(
            { ...p, metadata: { ...p.metadata, deletionTimestamp: undefined } },
            ns,
            labels,
          ),
        );
        return affected ? [objectKey(cs)] : [];
      });
    },
  /** A namespace's labels select policies: a label change re-reconciles its CounterServices. */
  namespace:
    (counterServices: Lister) =>
    (change: Change<KubeObject>): string[] => {
      if (
        change.type === 'updated' &&
        hashOf(change.old.metadata.labels ?? {}) === hashOf(change.object.metadata.labels ?? {})
      ) {
        return [];
      }
      const ns = change.object.metadata.name;
      return counterServices.list().flatMap((cs) => (cs.metadata.namespace === ns ? [objectKey(cs)] : []));
    },
};
