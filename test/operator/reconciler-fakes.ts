// In-memory stand-ins for what the reconciler reads and writes, for its unit tests: the real Stores
// (filled by hand instead of by reflectors), an applier that keeps the real "skip when the live
// object already matches" rule but answers from memory, and a recorder that keeps the events.
import pino from 'pino';
import type { EventType } from '../../kube/events.ts';
import { type KubeObject, objectKey, type ResourceType, splitKey } from '../../kube/resources.ts';
import { Store } from '../../kube/store.ts';
import { applyDefaults, type CounterService, type DrainPolicy } from '../../operator/api/types.ts';
import { DrainLedger } from '../../operator/drains.ts';
import { PolicyRollouts } from '../../operator/policy-rollouts.ts';
import { CounterServiceReconciler, type ObjectApplier } from '../../operator/reconciler.ts';
import { type ApplyResult, unchangedLive, withAppliedHash } from '../../operator/runtime/apply.ts';
import type { Deployment } from '../../operator/status.ts';

export interface Write {
  verb: 'apply' | 'applyStatus';
  kind: string;
  key: string;
}

/**
 * Applies into memory. Like runtime/apply.ts it sends nothing when the live object already holds
 * every desired field; otherwise it "writes": the result is the desired object with a new
 * resourceVersion, keeping the live object's uid, creation time and status (server-side apply
 * merges, and status is another subresource). `failWith` makes writes of a kind fail, `beforeWrite`
 * runs at each write (e.g. to lose the lease mid-reconcile).
 */
export class FakeApplier implements ObjectApplier {
  readonly writes: Write[] = [];
  readonly failWith = new Map<string, Error>();
  beforeWrite: (write: Write) => void = () => undefined;
  readonly #counterServices: Store<CounterService & KubeObject>;
  #version = 1000;

  constructor(counterServices: Store<CounterService & KubeObject>) {
    this.#counterServices = counterServices;
  }

  async apply<T extends KubeObject>(
    type: ResourceType,
    desired: T,
    live: T | undefined,
    signal?: AbortSignal,
  ): Promise<ApplyResult<T>> {
    const hashed = withAppliedHash(desired);
    const unchanged = unchangedLive(live, hashed);
    if (unchanged) {
      return { written: false, object: unchanged };
    }
    this.#write({ verb: 'apply', kind: type.kind, key: objectKey(desired) }, signal);
    const object = {
      ...structuredClone(hashed),
      metadata: {
        ...structuredClone(hashed.metadata),
        uid: live?.metadata.uid ?? `uid-${type.kind}-${desired.metadata.name}`,
        creationTimestamp: live?.metadata.creationTimestamp ?? new Date().toISOString(),
        generation: ((live?.metadata.generation as number | undefined) ?? 0) + 1,
        resourceVersion: String(++this.#version),
      },
      ...(live?.status !== undefined ? { status: live.status } : {}),
    } as T;
    return { written: true, object };
  }

  async applyStatus<T extends KubeObject>(type: ResourceType, patch: T, signal?: AbortSignal): Promise<T> {
    const key = objectKey(patch);
    this.#write({ verb: 'applyStatus', kind: type.kind, key }, signal);
    const current = this.#counterServices.get(key);
    if (!current) throw new Error(`${type.kind} ${key} not found`);
    return {
      ...structuredClone(current),
      metadata: { ...structuredClone(current.metadata), resourceVersion: String(++this.#version) },
      status: structuredClone(patch.status),
    } as unknown as T;
  }

  #write(write: Write, signal: AbortSignal | undefined): void {
    this.beforeWrite(write);
    // The real client rejects a request whose signal is aborted before it is sent.
    signal?.throwIfAborted();
    this.writes.push(write);
    const failure = this.failWith.get(write.kind);
    if (failure) throw failure;
  }
}

export interface RecordedEvent {
  about: string;
  type: EventType;
  reason: string;
  message: string;
}

export class FakeRecorder {
  readonly events: RecordedEvent[] = [];

  async record(about: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    this.events.push({ about: objectKey(about), type, reason, message });
  }
}

/** A reconciler over in-memory stores, and handles to change its world as watches would. */
export function reconcilerWorld(opts: { now?: () => Date } = {}) {
  const stores = {
    counterServices: new Store<CounterService & KubeObject>(),
    deployments: new Store<Deployment>(),
    services: new Store<KubeObject>(),
    podDisruptionBudgets: new Store<KubeObject>(),
    drainPolicies: new Store<DrainPolicy & KubeObject>(),
    namespaces: new Store<KubeObject>(),
  };
  const applier = new FakeApplier(stores.counterServices);
  const recorder = new FakeRecorder();
  /** Objects on the "API server" the filtered caches do not show (no managed-by label), by "Kind ns/name". */
  const unlabelled = new Map<string, KubeObject>();
  const lookups: string[] = [];
  const ledger = new DrainLedger();
  const rollouts = new PolicyRollouts();
  const reconciler = new CounterServiceReconciler({
    ...stores,
    applier,
    lookup: async (type, namespace, name) => {
      lookups.push(`${type.kind} ${namespace}/${name}`);
      return unlabelled.get(`${type.kind} ${namespace}/${name}`);
    },
    recorder,
    ledger,
    rollouts,
    log: pino({ level: 'silent' }),
    now: opts.now,
  });
  return {
    ...stores,
    applier,
    recorder,
    ledger,
    rollouts,
    unlabelled,
    lookups,
    reconcile: (key: string, signal?: AbortSignal) => reconciler.reconcile(key, signal),
    /** Adds a CounterService as the API server would store it (defaults filled, uid, generation 1). */
    addCounterService(name: string, namespace: string, spec: Record<string, unknown> = {}) {
      const cs = {
        apiVersion: 'lastcall.dev/v1alpha1',
        kind: 'CounterService',
        metadata: { name, namespace, uid: `uid-cs-${name}`, generation: 1, resourceVersion: '1' },
        spec: applyDefaults({
          image: 'lastcall/workload:v1',
          redis: { address: 'redis:6379', key: name },
          work: { durationSeconds: 5 },
          ...spec,
        }),
      } as CounterService & KubeObject;
      stores.counterServices.set(cs);
      stores.namespaces.set({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
      return objectKey(cs);
    },
    /** The Deployment controller observed the Deployment of `key` and reports every replica ready. */
    deploymentSettles(key: string) {
      const deployment = stores.deployments.get(key);
      if (!deployment) throw new Error(`no Deployment ${key}`);
      const replicas = deployment.spec?.replicas ?? 1;
      stores.deployments.set({
        ...deployment,
        metadata: { ...deployment.metadata, resourceVersion: `${deployment.metadata.resourceVersion}-s` },
        status: {
          observedGeneration: deployment.metadata.generation,
          replicas,
          readyReplicas: replicas,
          updatedReplicas: replicas,
          availableReplicas: replicas,
        },
      });
    },
    /** Writes made so far, as "verb Kind ns/name". */
    writeLog: () => applier.writes.map((w) => `${w.verb} ${w.kind} ${w.key}`),
    namespaceOf: (key: string) => splitKey(key).namespace,
  };
}
