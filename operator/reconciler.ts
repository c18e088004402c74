// reconcile(key): read the CounterService, compute its budget under the DrainPolicies that apply,
// apply the Deployment, Service and PodDisruptionBudget, record drains, write status. Level-triggered:
// it never asks what changed, so a repeated or missed event does no harm, and when the world already
// matches it sends no request at all.
import type { Logger } from 'pino';
import {
  API_VERSION,
  COUNTER_SERVICE_KIND,
  COUNTER_SERVICE_PLURAL,
  DRAIN_POLICY_KIND,
  DRAIN_POLICY_PLURAL,
  GROUP,
  VERSION,
} from './api/constants.ts';
import type { CounterService, CounterServiceStatus, DrainPolicy, DrainRecord } from './api/types.ts';
import { type Budget, computeBudget, recommendGracePeriod } from './budget.ts';
import {
  budgetInForce,
  desiredDeployment,
  desiredPodDisruptionBudget,
  desiredService,
  selectorString,
} from './desired/index.ts';
import { addDrains, type DrainLedger, drainEvent } from './drains.ts';
import { policyMatchesNamespace, resolvePolicy } from './policy.ts';
import type { Applier } from './runtime/apply.ts';
import { appliedHashAnnotation, hashOf, withAppliedHash } from './runtime/apply.ts';
import { ApiError } from './runtime/client.ts';
import type { ReconcileResult } from './runtime/controller.ts';
import type { EventRecorder } from './runtime/events.ts';
import type { Change } from './runtime/reflector.ts';
import { coreTypes, type KubeObject, objectKey, type ResourceType, splitKey } from './runtime/resources.ts';
import type { Store } from './runtime/store.ts';
import {
  type ConditionInput,
  type DeploymentStatus,
  findCondition,
  nextRollout,
  phaseOf,
  type RolloutState,
  readyColumn,
  rolloutConditions,
  rolloutState,
  setConditions,
} from './status.ts';

/** How long a new CounterService's first status waits for its Deployment's first status. */
const firstStatusWaitMs = 5000;

export const counterServiceType: ResourceType = {
  group: GROUP,
  version: VERSION,
  plural: COUNTER_SERVICE_PLURAL,
  kind: COUNTER_SERVICE_KIND,
  namespaced: true,
};

export const drainPolicyType: ResourceType = {
  group: GROUP,
  version: VERSION,
  plural: DRAIN_POLICY_PLURAL,
  kind: DRAIN_POLICY_KIND,
  namespaced: false,
};

export interface Deployment extends KubeObject {
  spec?: {
    replicas?: number;
    template?: {
      spec?: {
        terminationGracePeriodSeconds?: number;
        containers?: Array<{ name: string; image?: string }>;
      };
    };
  };
  status?: DeploymentStatus;
}

/** The caches the reconcile reads (filled by reflectors) and the writers it uses. */
export interface ReconcilerDeps {
  counterServices: Store<CounterService & KubeObject>;
  deployments: Store<Deployment>;
  services: Store<KubeObject>;
  podDisruptionBudgets: Store<KubeObject>;
  drainPolicies: Store<DrainPolicy & KubeObject>;
  namespaces: Store<KubeObject>;
  applier: Applier;
  recorder: EventRecorder;
  ledger: DrainLedger;
  log: Logger;
  now?: () => Date;
  /** Called once per drain written to status (metrics). */
  onDrainRecorded?: (record: DrainRecord) => void;
}

interface OwnedKind {
  type: ResourceType;
  store: Store<KubeObject>;
  desired: (cs: CounterService) => KubeObject;
}

export class CounterServiceReconciler {
  readonly #deps: ReconcilerDeps;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
  }

  readonly reconcile = async (key: string): Promise<ReconcileResult | undefined> => {
    const { counterServices, ledger, log } = this.#deps;
    const cs = counterServices.get(key);
    // Gone: the garbage collector deletes what it owned (ownerReferences), nothing to do here.
    if (!cs) {
      ledger.forget(key);
      return undefined;
    }
    if (cs.metadata.deletionTimestamp) return undefined;
    const now = (this.#deps.now ?? (() => new Date()))().toISOString();

    const { namespace = '' } = splitKey(key);
    const ns = this.#deps.namespaces.get(namespace);
    // A terminating namespace refuses new objects (403 "being terminated") while the namespace
    // controller deletes everything in it, owned objects possibly before their CounterService:
    // recreating them would only fail and retry until the CounterService is gone too.
    if (ns?.metadata.deletionTimestamp) return undefined;
    const namespaceLabels = ns?.metadata.labels ?? {};
    const policy = resolvePolicy(this.#deps.drainPolicies.list(), namespace, namespaceLabels);
    const decision = computeBudget(cs.spec, policy);
    const live = this.#deps.deployments.get(key);

    // Until a new budget is accepted, the one in force is the one the live Deployment carries.
    let budget: Budget | undefined = budgetInForce(live) ?? cs.status?.budget;
    let budgetCondition: ConditionInput;
    let deployment = live;
    if (!decision.accepted) {
      // A budget outside the policy is refused, not clamped: the pods keep the budget they have
      // (status.budget reports the one in force) and the condition says what to fix.
      budgetCondition = {
        type: 'BudgetAccepted',
        status: 'False',
        reason: decision.reason,
        message: decision.message,
      };
    } else {
      budget = decision.budget;
      budgetCondition = {
        type: 'BudgetAccepted',
        status: 'True',
        reason: budget.source === 'override' ? 'Override' : 'WithinBounds',
        message: `terminationGracePeriodSeconds ${budget.gracePeriodSeconds}: ${budget.formula} (policy ${budget.policy})`,
      };
      const conflict = this.#foreignOwner(cs, budget);
      if (conflict) {
        return this.#writeStatus(cs, {
          now,
          budget,
          budgetCondition,
          deployment: undefined,
          extra: [{ type: 'Degraded', status: 'True', reason: 'NameConflict', message: conflict }],
        });
      }
      try {
        deployment = await this.#applyOwned(cs, decision.budget);
      } catch (err) {
        // The namespace began terminating after the cache last saw it: nothing to do, not an error.
        if (err instanceof ApiError && err.code === 403 && /being terminated/.test(err.message))
          return undefined;
        throw err;
      }
    }

    return this.#writeStatus(cs, {
      now,
      budget,
      budgetCondition,
      deployment,
      lastRollout: nextRollout(cs.status?.lastRollout, deployment, now),
      extra: decision.accepted
        ? []
        : [{ type: 'Degraded', status: 'True', reason: 'BudgetRejected', message: decision.message }],
    }).finally(() => log.debug({ key }, 'reconciled'));
  };

  /** Applies Deployment, Service and PDB; returns the Deployment as it is after the apply. */
  async #applyOwned(cs: CounterService & KubeObject, budget: Budget): Promise<Deployment | undefined> {
    const { applier, recorder } = this.#deps;
    const key = objectKey(cs);
    // The three objects do not depend on each other: apply them in parallel.
    const results = await Promise.all(
      this.#ownedKinds(budget).map(async (kind) => {
        const desired = kind.desired(cs);
        const live = kind.store.get(key);
        const result = await applier.apply(kind.type, desired, live);
        if (result.written) kind.store.remember(result.object, live?.metadata.resourceVersion);
        return { kind, desired, live, result };
      }),
    );
    // One event per kind of change, naming every object it concerns (not one event per object).
    const changes = { Created: [] as string[], Updated: [] as string[], DriftCorrected: [] as string[] };
    for (const { kind, desired, live, result } of results) {
      if (!result.written) continue;
      const what = `${kind.type.kind} ${desired.metadata.name}`;
      if (!live) changes.Created.push(`${what}${describe(kind.type, result.object)}`);
      else if (
        live.metadata.annotations?.[appliedHashAnnotation] ===
        withAppliedHash(desired).metadata.annotations?.[appliedHashAnnotation]
      ) {
        // Same desired state as last applied, yet the live object differed: someone edited it.
        changes.DriftCorrected.push(what);
      } else changes.Updated.push(`${what}${describe(kind.type, result.object, live)}`);
    }
    if (changes.Created.length)
      void recorder.record(cs, 'Normal', 'Created', `created ${changes.Created.join(', ')}`);
    if (changes.Updated.length)
      void recorder.record(cs, 'Normal', 'Updated', `updated ${changes.Updated.join(', ')}`);
    if (changes.DriftCorrected.length) {
      void recorder.record(
        cs,
        'Normal',
        'DriftCorrected',
        `put back hand-edited fields of ${changes.DriftCorrected.join(', ')}`,
      );
    }
    return results.find((r) => r.kind.type === coreTypes.deployment)?.result.object as Deployment | undefined;
  }

  #ownedKinds(budget: Budget): OwnedKind[] {
    return [
      {
        type: coreTypes.deployment,
        store: this.#deps.deployments,
        desired: (cs) => desiredDeployment(cs, budget) as KubeObject,
      },
      {
        type: coreTypes.service,
        store: this.#deps.services,
        desired: (cs) => desiredService(cs) as KubeObject,
      },
      {
        type: coreTypes.podDisruptionBudget,
        store: this.#deps.podDisruptionBudgets,
        desired: (cs) => desiredPodDisruptionBudget(cs) as KubeObject,
      },
    ];
  }

  /** An object with our name that another controller owns must not be taken over by a forced apply. */
  #foreignOwner(cs: CounterService & KubeObject, budget: Budget): string | undefined {
    const key = objectKey(cs);
    for (const { type, store } of this.#ownedKinds(budget)) {
      const live = store.get(key);
      if (!live) continue;
      const controller = live.metadata.ownerReferences?.find((ref) => ref.controller);
      if (controller?.uid !== cs.metadata.uid) {
        return `${type.kind} ${key} exists and is not controlled by this CounterService${
          controller ? ` (controller: ${controller.kind} ${controller.name})` : ''
        }; rename or delete it`;
      }
    }
    return undefined;
  }

  async #writeStatus(
    cs: CounterService & KubeObject,
    input: {
      now: string;
      budget: Budget | undefined;
      budgetCondition: ConditionInput;
      deployment: Deployment | undefined;
      lastRollout?: CounterServiceStatus['lastRollout'];
      extra: ConditionInput[];
    },
  ): Promise<ReconcileResult | undefined> {
    const { applier, recorder, ledger, counterServices, log } = this.#deps;
    const key = objectKey(cs);
    const previous = cs.status ?? {};
    // A Deployment created a moment ago has no status yet; the Deployment controller gives it one
    // within milliseconds, and that change reconciles this CounterService again. Writing a first
    // status now would be replaced at once: one write per new CounterService saved. The wait is
    // bounded, so a stalled controller-manager still gets a status written.
    const age = Date.now() - Date.parse(input.deployment?.metadata.creationTimestamp ?? '');
    if (
      !cs.status?.conditions &&
      input.deployment &&
      !input.deployment.status?.observedGeneration &&
      age < firstStatusWaitMs
    ) {
      return { requeueAfterMs: firstStatusWaitMs - Math.max(0, age) };
    }
    const rollout: RolloutState | undefined = input.deployment?.status
      ? rolloutState(input.deployment)
      : undefined;
    const conditionInputs = [...rolloutConditions(rollout, cs.spec.replicas), input.budgetCondition];
    for (const extra of input.extra) {
      const i = conditionInputs.findIndex((c) => c.type === extra.type);
      conditionInputs[i >= 0 ? i : conditionInputs.length] = extra;
    }
    const conditions = setConditions(previous.conditions, conditionInputs, cs.metadata.generation, input.now);

    const status: CounterServiceStatus = {
      ...(cs.metadata.generation !== undefined ? { observedGeneration: cs.metadata.generation } : {}),
      replicas: rollout?.replicas ?? 0,
      readyReplicas: rollout?.readyReplicas ?? 0,
      updatedReplicas: rollout?.updatedReplicas ?? 0,
      availableReplicas: rollout?.availableReplicas ?? 0,
      ready: readyColumn(rollout?.readyReplicas, cs.spec.replicas),
      selector: selectorString(cs),
      phase: phaseOf(conditions),
      conditions,
    };
    if (input.budget) status.budget = input.budget;
    const lastRollout = input.lastRollout ?? previous.lastRollout;
    if (lastRollout) status.lastRollout = lastRollout;

    // Drains seen since the last write.
    const pending = ledger.pending(key);
    const terms = input.budget?.terms;
    const { drains, added } = addDrains(previous.drains, pending, (longest) =>
      terms ? recommendGracePeriod(terms, longest) : Math.ceil(longest),
    );
    if (drains.observed > 0) status.drains = drains;

    if (sameJson(status, previous)) {
      ledger.settle(key, pending);
      return undefined;
    }
    // resourceVersion makes the write conditional: status built from a stale cache (e.g. drains
    // already counted by a write the cache has not seen) is refused with 409 and retried.
    const written = await applier.applyStatus(counterServiceType, {
      apiVersion: API_VERSION,
      kind: COUNTER_SERVICE_KIND,
      metadata: {
        name: cs.metadata.name,
        namespace: cs.metadata.namespace,
        resourceVersion: cs.metadata.resourceVersion,
      },
      status,
    } as KubeObject);
    counterServices.remember(written as CounterService & KubeObject, cs.metadata.resourceVersion);
    ledger.settle(key, pending);
    log.info({ key, phase: status.phase, drainsAdded: added.length }, 'status updated');

    for (const record of added) {
      this.#deps.onDrainRecorded?.(record);
      const event = drainEvent(record);
      void recorder.record(cs, event.type, event.reason, event.message);
    }
    const before = findCondition(previous.conditions, 'BudgetAccepted');
    if (
      input.budgetCondition.status === 'False' &&
      (before?.status !== 'False' || before.message !== input.budgetCondition.message)
    ) {
      void recorder.record(cs, 'Warning', 'BudgetRejected', input.budgetCondition.message);
    }
    const conflict = input.extra.find((c) => c.reason === 'NameConflict');
    if (conflict && findCondition(previous.conditions, 'Degraded')?.reason !== 'NameConflict') {
      void recorder.record(cs, 'Warning', 'NameConflict', conflict.message);
    }
    if (lastRollout?.completedAt && lastRollout.completedAt !== previous.lastRollout?.completedAt) {
      void recorder.record(
        cs,
        'Normal',
        'RolloutComplete',
        `rollout${lastRollout.fromImage ? ` from ${lastRollout.fromImage}` : ''} to ${lastRollout.toImage} complete`,
      );
    }
    return undefined;
  }
}

function imageOf(deployment: Deployment | undefined): string | undefined {
  return deployment?.spec?.template?.spec?.containers?.[0]?.image;
}

/** A short description of what an applied Deployment now says, for events. */
function describe(type: ResourceType, now: KubeObject, before?: KubeObject): string {
  if (type !== coreTypes.deployment) return '';
  const after = now as Deployment;
  const old = before as Deployment | undefined;
  const parts: string[] = [];
  const grace = after.spec?.template?.spec?.terminationGracePeriodSeconds;
  const oldGrace = old?.spec?.template?.spec?.terminationGracePeriodSeconds;
  if (!old)
    parts.push(`grace period ${grace}s`, `image ${imageOf(after)}`, `replicas ${after.spec?.replicas}`);
  else {
    if (grace !== oldGrace) parts.push(`grace period ${oldGrace}s -> ${grace}s`);
    if (imageOf(after) !== imageOf(old)) parts.push(`image ${imageOf(old)} -> ${imageOf(after)}`);
    if (after.spec?.replicas !== old.spec?.replicas)
      parts.push(`replicas ${old.spec?.replicas} -> ${after.spec?.replicas}`);
  }
  return parts.length ? ` (${parts.join(', ')})` : '';
}

function sameJson(a: unknown, b: unknown): boolean {
  return hashOf(a) === hashOf(b);
}

interface Lister {
  list(): KubeObject[];
}

/** Keys to reconcile when a watched object changes. */
export const keysFor = {
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
        sameJson(change.old.metadata.labels ?? {}, change.object.metadata.labels ?? {})
      ) {
        return [];
      }
      const ns = change.object.metadata.name;
      return counterServices.list().flatMap((cs) => (cs.metadata.namespace === ns ? [objectKey(cs)] : []));
    },
};
