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
import { redisAddressRefusal, resolvePolicy } from './policy.ts';
import { type PolicyRollouts, policyRolloutGate } from './policy-rollouts.ts';
import { type Applier, appliedHashAnnotation, hashOf, withAppliedHash } from './runtime/apply.ts';
import type { ReconcileResult } from './runtime/controller.ts';
import { type ConditionInput, type Deployment, nextRollout } from './status.ts';

/** The writes the reconcile makes: server-side applies of owned objects and of status. */
export type ObjectApplier = Pick<Applier, 'apply' | 'applyStatus'>;

/** Reads one object by name from the API server; undefined when there is none. */
type ObjectLookup = (
  type: ResourceType,
  namespace: string,
  name: string,
  signal: AbortSignal,
) => Promise<KubeObject | undefined>;

/**
 * The CounterService is Degraded for a reason only a change elsewhere can clear (an object of its
 * name that is not its own, an object the API server refuses): status and a Warning event say
 * why, and the reconcile fails so that the controller retries it with back-off. A retry is needed:
 * a user's object is not watched (the caches hold only labelled objects), and a fix such as a
 * quota raised or a NodePort freed raises no event for this CounterService.
 */
export class DegradedError extends Error {
  override name = 'DegradedError';
}

/** The caches the reconcile reads (filled by reflectors) and the writers it uses. */
interface ReconcilerDeps {
  counterServices: Store<CounterService & KubeObject>;
  deployments: Store<Deployment>;
  services: Store<KubeObject>;
  podDisruptionBudgets: Store<KubeObject>;
  drainPolicies: Store<DrainPolicy & KubeObject>;
  namespaces: Store<KubeObject>;
  applier: ObjectApplier;
  /** Looks up owned names the caches lack (see #nameConflicts). */
  lookup: ObjectLookup;
  recorder: Pick<EventRecorder, 'record'>;
  ledger: DrainLedger;
  /** Admissions of policy-driven rollouts (DrainPolicy spec.maxConcurrentRollouts). */
  rollouts: PolicyRollouts;
  log: Logger;
  now?: () => Date;
  /** Called once per drain written to status (metrics), with its CounterService's key. */
  onDrainRecorded?: (record: DrainRecord, key: string) => void;
}

interface OwnedKind {
  type: ResourceType;
  store: Store<KubeObject>;
  desired: (cs: CounterService) => KubeObject;
}

/** How often a queued policy rollout looks again by itself (a settled rollout also wakes it). */
const queuedRetryMs = 30_000;

/** What #applyOwned did: the Deployment after the apply, and the objects the API server refused. */
interface Applied {
  deployment: Deployment | undefined;
  refusals: string[];
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
      this.#deps.rollouts.forget(key);
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
      const redisRefusal = redisAddressRefusal(cs.spec.redis.address, namespace, policy);
      if (redisRefusal) {
        // The workload would send the Secret's password to that address: nothing is applied, the
        // running pods (if any) keep what they have. No retry: the fix is a change of this
        // CounterService or of a DrainPolicy, and both are watched.
        const own = live?.metadata.ownerReferences?.some(
          (ref) => ref.controller && ref.uid === cs.metadata.uid,
        )
          ? live
          : undefined;
        const overrides: ConditionInput[] = [
          { type: 'Degraded', status: 'True', reason: 'RedisAddressNotAllowed', message: redisRefusal },
        ];
        if (!own)
          overrides.push(
            notProgressing(
              'RedisAddressNotAllowed',
              'nothing is applied while spec.redis.address is not allowed',
            ),
          );
        return this.#writeStatus(
          cs,
          { budget: budgetInForce(own) ?? budget, budgetCondition, deployment: own, overrides },
          now,
          signal,
        );
      }
      const kinds = this.#ownedKinds(budget);
      const conflicts = await this.#nameConflicts(cs, kinds, signal);
      if (conflicts) {
        // Nothing is applied, not even the objects whose names are free: a CounterService is its
        // Deployment, Service and PDB together, and half of it would only mislead.
        // Its own Deployment, if it has one, still reports the pods; a foreign one reports nothing.
        const own = live?.metadata.ownerReferences?.some(
          (ref) => ref.controller && ref.uid === cs.metadata.uid,
        )
          ? live
          : undefined;
        const overrides: ConditionInput[] = [
          { type: 'Degraded', status: 'True', reason: 'NameConflict', message: conflicts },
        ];
        if (!own)
          overrides.push(notProgressing('NameConflict', 'nothing is applied while the name conflict lasts'));
        await this.#writeStatus(cs, { budget, budgetCondition, deployment: own, overrides }, now, signal);
        throw new DegradedError(conflicts);
      }
      const { deployments, drainPolicies, namespaces, rollouts } = this.#deps;
      const gate = policyRolloutGate({
        cs,
        live,
        budget,
        policy,
        deployments,
        drainPolicies,
        namespaces,
        rollouts,
      });
      let applied: Applied;
      try {
        // Queued: everything is applied as it is, with the budget the pods already have.
        applied = await this.#applyOwned(
          cs,
          gate.kind === 'queued' ? this.#ownedKinds(gate.inForce) : kinds,
          signal,
        );
      } catch (err) {
        // The namespace began terminating after the cache last saw it: nothing to do, not an error.
        if (err instanceof ApiError && err.code === 403 && /being terminated/.test(err.message))
          return undefined;
        throw err;
      } finally {
        // Applied (or failed): the cache now shows the new generation, or nothing was changed.
        if (gate.kind !== 'queued') this.#deps.rollouts.forget(key);
      }
      const deployment = applied.deployment ?? live;
      const overrides: ConditionInput[] = [];
      if (applied.refusals.length) {
        overrides.push({
          type: 'Degraded',
          status: 'True',
          reason: 'ApplyFailed',
          message: applied.refusals.join('; '),
        });
        if (!deployment) overrides.push(notProgressing('ApplyFailed', 'the Deployment could not be applied'));
      }
      if (gate.kind === 'queued')
        overrides.push({
          type: 'Progressing',
          status: 'True',
          reason: 'RolloutQueued',
          message: gate.message,
        });
      outcome = {
        // status.budget says what the pods have: the budget in force while the new one waits.
        budget: gate.kind === 'queued' ? gate.inForce : budget,
        budgetCondition,
        deployment,
        lastRollout: nextRollout(cs.status?.lastRollout, deployment, now),
        overrides,
      };
      if (applied.refusals.length) {
        await this.#writeStatus(cs, outcome, now, signal);
        throw new DegradedError(applied.refusals.join('; '));
      }
      if (gate.kind === 'queued') {
        await this.#writeStatus(cs, outcome, now, signal);
        return { requeueAfterMs: queuedRetryMs };
      }
    }
    const result = await this.#writeStatus(cs, outcome, now, signal);
    log.debug({ key }, 'reconciled');
    return result;
  };

  #now(): Date {
    return this.#deps.now?.() ?? new Date();
  }

  /**
   * Applies Deployment, Service and PDB, each on its own: one the API server refuses does not
   * hold back the others. Returns the Deployment as it is after the apply, and what was refused.
   * Any other failure (the server's or the network's trouble, a race, throttling) is thrown, after
   * the events of what was applied.
   */
  async #applyOwned(
    cs: CounterService & KubeObject,
    kinds: readonly OwnedKind[],
    signal: AbortSignal,
  ): Promise<Applied> {
    const { applier } = this.#deps;
    const key = objectKey(cs);
    // The three objects do not depend on each other: apply them in parallel.
    const settled = await Promise.allSettled(
      kinds.map(async (kind) => {
        const desired = kind.desired(cs);
        const live = kind.store.get(key);
        signal.throwIfAborted();
        const result = await applier.apply(kind.type, desired, live, signal);
        if (result.written) kind.store.remember(result.object, live?.metadata.resourceVersion);
        return { kind, desired, live, result };
      }),
    );
    // Aborted: whatever failed, failed because of it.
    signal.throwIfAborted();
    const results = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
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

    const refusals: string[] = [];
    for (const [i, outcome] of settled.entries()) {
      if (outcome.status === 'fulfilled') continue;
      const refusal = refusalText(outcome.reason);
      if (refusal === undefined) throw outcome.reason;
      refusals.push(`${kinds[i]?.type.kind} ${cs.metadata.name} was refused by the API server: ${refusal}`);
    }
    const deployment = results.find((r) => r.kind.type === coreTypes.deployment)?.result.object as
      | Deployment
      | undefined;
    return { deployment, refusals };
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

  /**
   * Objects with an owned name that this CounterService does not control: a forced apply would
   * take them over (replace a user's Service selector, add a controller reference that makes the
   * garbage collector delete the user's object with the CounterService). The caches hold only
   * objects with the managed-by label, so a name they lack is looked up on the API server: once
   * when a CounterService is created and while a conflict lasts, never in steady state (every
   * owned object is cached then). Returns the message naming each object, or undefined.
   */
  async #nameConflicts(
    cs: CounterService & KubeObject,
    kinds: readonly OwnedKind[],
    signal: AbortSignal,
  ): Promise<string | undefined> {
    const key = objectKey(cs);
    const { namespace = '', name } = splitKey(key);
    const found = await Promise.all(
      kinds.map(async ({ type, store }) => ({
        type,
        live: store.get(key) ?? (await this.#deps.lookup(type, namespace, name, signal)),
      })),
    );
    const foreign = found.flatMap(({ type, live }) => {
      if (!live) return [];
      const controller = live.metadata.ownerReferences?.find((ref) => ref.controller);
      if (controller?.uid === cs.metadata.uid) return [];
      return [
        `${type.kind} ${key} exists and is not controlled by this CounterService (${
          controller ? `controller: ${controller.kind} ${controller.name}` : 'no controller'
        })`,
      ];
    });
    if (!foreign.length) return undefined;
    return `${foreign.join('; ')}: nothing is applied until ${
      foreign.length === 1 ? 'it is' : 'they are'
    } renamed or deleted, or the CounterService is renamed`;
  }

  async #writeStatus(
    cs: CounterService & KubeObject,
    outcome: Outcome,
    now: string,
    signal: AbortSignal,
  ): Promise<ReconcileResult | undefined> {
    const { applier, ledger, counterServices, log } = this.#deps;
    // A verdict (refused budget, conflict, failed apply) is shown at once; only a plain first
    // status waits for the Deployment's.
    const delay = outcome.overrides.length
      ? undefined
      : firstStatusDelayMs(cs, outcome.deployment, Date.parse(now));
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
    for (const record of drainsAdded) this.#deps.onDrainRecorded?.(record, key);
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

/**
 * The API server's reason when it refused an object itself (invalid, forbidden, over quota, a
 * NodePort taken): the same request would be refused again, so the user must hear of it. Undefined
 * for failures a retry may cure without anyone acting: 409 (a race), 429 (throttled), 5xx and
 * network errors, which are retried quietly with back-off.
 */
function refusalText(err: unknown): string | undefined {
  if (!(err instanceof ApiError) || err.code < 400 || err.code >= 500 || err.code === 409 || err.code === 429)
    return undefined;
  return `${err.code}${err.reason ? ` ${err.reason}` : ''}: ${err.status?.message ?? err.message}`;
}

/** Progressing=False: there is no Deployment to wait for, and none will come until the user acts. */
function notProgressing(reason: string, message: string): ConditionInput {
  return { type: 'Progressing', status: 'False', reason, message };
}
