// reconcile(key): read the CounterService, compute its budget under the DrainPolicies that apply,
// apply the Deployment, Service and PodDisruptionBudget, record drains, write status. Level-triggered:
// it never asks what changed, so a repeated or missed event does no harm, and when the world already
// matches it sends no request at all. Status (next-status.ts) and events (events.ts) are pure
// functions of what it read; this module only reads, decides and writes.
import type { Logger } from 'pino';
import { ApiError } from '../kube/errors.ts';
import type { EventRecorder } from '../kube/events.ts';
import { coreTypes, type KubeObject, objectKey, type ResourceType, splitKey } from '../kube/resources.ts';
import type { Store } from '../kube/store.ts';
import { API_VERSION, COUNTER_SERVICE_KIND } from './api/constants.ts';
import { counterServiceType } from './api/resources.ts';
import type { CounterService, DrainPolicy, DrainRecord, RolloutStatus } from './api/types.ts';
import { type Budget, computeBudget } from './budget.ts';
import {
  budgetInForce,
  desiredDeployment,
  desiredPodDisruptionBudget,
  desiredService,
} from './desired/index.ts';
import type { DrainLedger } from './drains.ts';
import { type AppliedObject, applyEvents, type EventSpec, statusEvents } from './events.ts';
import { firstStatusDelayMs, nextStatus } from './next-status.ts';
import { resolvePolicy } from './policy.ts';
import { type Applier, appliedHashAnnotation, hashOf, withAppliedHash } from './runtime/apply.ts';
import type { ReconcileResult } from './runtime/controller.ts';
import { type ConditionInput, type Deployment, nextRollout } from './status.ts';

/** The writes the reconcile makes: server-side applies of owned objects and of status. */
export type ObjectApplier = Pick<Applier, 'apply' | 'applyStatus'>;

/** The caches the reconcile reads (filled by reflectors) and the writers it uses. */
export interface ReconcilerDeps {
  counterServices: Store<CounterService & KubeObject>;
  deployments: Store<Deployment>;
  services: Store<KubeObject>;
  podDisruptionBudgets: Store<KubeObject>;
  drainPolicies: Store<DrainPolicy & KubeObject>;
  namespaces: Store<KubeObject>;
  applier: ObjectApplier;
  recorder: Pick<EventRecorder, 'record'>;
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

/** What a reconcile decided, for the status it writes. */
interface Outcome {
  budget: Budget | undefined;
  budgetCondition: ConditionInput;
  deployment: Deployment | undefined;
  lastRollout?: RolloutStatus | undefined;
  overrides: ConditionInput[];
}

export class CounterServiceReconciler {
  readonly #deps: ReconcilerDeps;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
  }

  /**
   * `signal` aborts when this replica must stop writing (lost lease, shutdown): checked before every
   * write and passed to the requests, so an aborted reconcile rejects with the signal's reason and
   * leaves the rest undone. Everything it skipped is done by whichever replica reconciles next.
   */
  readonly reconcile = async (
    key: string,
    signal: AbortSignal = new AbortController().signal,
  ): Promise<ReconcileResult | undefined> => {
    const { counterServices, ledger, log } = this.#deps;
    const cs = counterServices.get(key);
    // Gone: the garbage collector deletes what it owned (ownerReferences), nothing to do here.
    if (!cs) {
      ledger.forget(key);
      return undefined;
    }
    if (cs.metadata.deletionTimestamp) return undefined;

    const { namespace = '' } = splitKey(key);
    const ns = this.#deps.namespaces.get(namespace);
    // A terminating namespace refuses new objects (403 "being terminated") while the namespace
    // controller deletes everything in it, owned objects possibly before their CounterService:
    // recreating them would only fail and retry until the CounterService is gone too.
    if (ns?.metadata.deletionTimestamp) return undefined;
    const policy = resolvePolicy(this.#deps.drainPolicies.list(), namespace, ns?.metadata.labels ?? {});
    const decision = computeBudget(cs.spec, policy);
    const live = this.#deps.deployments.get(key);
    const now = this.#now().toISOString();

    let outcome: Outcome;
    if (!decision.accepted) {
      // A budget outside the policy is refused, not clamped: the pods keep the budget they have
      // (until a new one is accepted, the one in force is the one the live Deployment carries)
      // and the condition says what to fix.
      outcome = {
        budget: budgetInForce(live) ?? cs.status?.budget,
        budgetCondition: {
          type: 'BudgetAccepted',
          status: 'False',
          reason: decision.reason,
          message: decision.message,
        },
        deployment: live,
        lastRollout: nextRollout(cs.status?.lastRollout, live, now),
        overrides: [
          { type: 'Degraded', status: 'True', reason: 'BudgetRejected', message: decision.message },
        ],
      };
    } else {
      const budget = decision.budget;
      const budgetCondition: ConditionInput = {
        type: 'BudgetAccepted',
        status: 'True',
        reason: budget.source === 'override' ? 'Override' : 'WithinBounds',
        message: `terminationGracePeriodSeconds ${budget.gracePeriodSeconds}: ${budget.formula} (policy ${budget.policy})`,
      };
      const conflict = this.#foreignOwner(cs, budget);
      if (conflict) {
        outcome = {
          budget,
          budgetCondition,
          deployment: undefined,
          overrides: [{ type: 'Degraded', status: 'True', reason: 'NameConflict', message: conflict }],
        };
      } else {
        let deployment: Deployment | undefined;
        try {
          deployment = await this.#applyOwned(cs, budget, signal);
        } catch (err) {
          // The namespace began terminating after the cache last saw it: nothing to do, not an error.
          if (err instanceof ApiError && err.code === 403 && /being terminated/.test(err.message))
            return undefined;
          throw err;
        }
        outcome = {
          budget,
          budgetCondition,
          deployment,
          lastRollout: nextRollout(cs.status?.lastRollout, deployment, now),
          overrides: [],
        };
      }
    }
    const result = await this.#writeStatus(cs, outcome, now, signal);
    log.debug({ key }, 'reconciled');
    return result;
  };

  #now(): Date {
    return this.#deps.now?.() ?? new Date();
  }

  /** Applies Deployment, Service and PDB; returns the Deployment as it is after the apply. */
  async #applyOwned(
    cs: CounterService & KubeObject,
    budget: Budget,
    signal: AbortSignal,
  ): Promise<Deployment | undefined> {
    const { applier } = this.#deps;
    const key = objectKey(cs);
    // The three objects do not depend on each other: apply them in parallel.
    const results = await Promise.all(
      this.#ownedKinds(budget).map(async (kind) => {
        const desired = kind.desired(cs);
        const live = kind.store.get(key);
        signal.throwIfAborted();
        const result = await applier.apply(kind.type, desired, live, signal);
        if (result.written) kind.store.remember(result.object, live?.metadata.resourceVersion);
        return { kind, desired, live, result };
      }),
    );
    const applied: AppliedObject[] = results
      .filter(({ result }) => result.written)
      .map(({ kind, desired, live, result }) => ({
        type: kind.type,
        before: live,
        after: result.object,
        // Same desired state as last applied, yet the live object differed: someone edited it.
        drifted:
          live?.metadata.annotations?.[appliedHashAnnotation] ===
          withAppliedHash(desired).metadata.annotations?.[appliedHashAnnotation],
      }));
    this.#record(cs, applyEvents(applied), signal);
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
    outcome: Outcome,
    now: string,
    signal: AbortSignal,
  ): Promise<ReconcileResult | undefined> {
    const { applier, ledger, counterServices, log } = this.#deps;
    const delay = firstStatusDelayMs(cs, outcome.deployment, Date.parse(now));
    if (delay !== undefined) return { requeueAfterMs: delay };

    const key = objectKey(cs);
    const previous = cs.status ?? {};
    const pending = ledger.pending(key);
    const { status, drainsAdded } = nextStatus({
      cs,
      now,
      drains: pending,
      podExists: ledger.podExists,
      ...outcome,
    });
    if (hashOf(status) === hashOf(previous)) {
      ledger.settle(key, pending);
      return undefined;
    }
    signal.throwIfAborted();
    // resourceVersion makes the write conditional: status built from a stale cache (e.g. drains
    // already counted by a write the cache has not seen) is refused with 409 and retried.
    const written = await applier.applyStatus(
      counterServiceType,
      {
        apiVersion: API_VERSION,
        kind: COUNTER_SERVICE_KIND,
        metadata: {
          name: cs.metadata.name,
          namespace: cs.metadata.namespace,
          resourceVersion: cs.metadata.resourceVersion,
        },
        status,
      } as KubeObject,
      signal,
    );
    counterServices.remember(written as CounterService & KubeObject, cs.metadata.resourceVersion);
    ledger.settle(key, pending);
    log.info({ key, phase: status.phase, drainsAdded: drainsAdded.length }, 'status updated');
    for (const record of drainsAdded) this.#deps.onDrainRecorded?.(record);
    this.#record(cs, statusEvents(previous, status, drainsAdded), signal);
    return undefined;
  }

  /** Events are information: recorded in the background, never failing the reconcile. */
  #record(cs: CounterService & KubeObject, events: readonly EventSpec[], signal: AbortSignal): void {
    // A replica told to stop writing posts no events either.
    if (signal.aborted) return;
    for (const event of events) void this.#deps.recorder.record(cs, event.type, event.reason, event.message);
  }
}
