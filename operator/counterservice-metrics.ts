// The per-CounterService figures a cluster admin tunes grace periods with, as Prometheus metrics:
// the grace period in force against the one the observed drains recommend, drains by outcome, the
// increments drains abandoned, whether the budget was accepted, whether the rollout is stuck past
// its deadline, and how long the last rollout took.
//
// Label cardinality is bounded: the only labels are `namespace` and `counterservice` (never a pod,
// an image, a reason or a message) plus `outcome` from the fixed set of drain outcomes, so a
// CounterService has at most 6 + |outcomes| series (12 today). Series of a CounterService leave at
// the first scrape after it left the cache. docs/operator.md (Metrics) states the bound.
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import type { KubeObject } from '../kube/resources.ts';
import { objectKey } from '../kube/resources.ts';
import type { CounterService, DrainOutcome, DrainRecord } from './api/types.ts';

/**
 * Every drain outcome, so each CounterService's drain counters exist at 0 before its first drain:
 * Prometheus' increase() cannot see the first increment of a series that appears with value 1.
 * A Record over the type: tsc fails here when the API gains an outcome (the schema's DRAIN_OUTCOMES
 * cannot be imported: it would load TypeBox into the operator process).
 */
const outcomes: Record<DrainOutcome, true> = {
  Clean: true,
  Abandoned: true,
  Killed: true,
  Hard: true,
  Crashed: true,
  Unknown: true,
};
export const DRAIN_OUTCOME_LABELS = Object.keys(outcomes) as DrainOutcome[];

type Labels = 'namespace' | 'counterservice';

interface CounterServiceMetrics {
  /** A drain was written to status (the leader counts it once, as it writes it). */
  drainRecorded(key: string, record: DrainRecord): void;
}

interface Lister {
  list(): Array<CounterService & KubeObject>;
}

/**
 * Registers the per-CounterService metrics in `registry`. Gauges are read from the cached
 * CounterServices' status at scrape time, so every replica (the standby too) reports the same
 * values and a restart loses nothing. The drain counters count the drains this process wrote to
 * status while it led (status.drains keeps the lifetime totals): they start at 0 with each process,
 * which rate() and increase() handle as any counter reset.
 */
export function registerCounterServiceMetrics(
  registry: Registry,
  counterServices: Lister,
  now: () => number = Date.now,
): CounterServiceMetrics {
  const registers = [registry];
  const labelNames: Labels[] = ['namespace', 'counterservice'];
  // Tallies per CounterService key; the counters are rebuilt from them at each scrape, for the
  // CounterServices still cached (a deleted one's series go, and so does its tally).
  const drainTally = new Map<string, Map<string, number>>();
  const abandonedTally = new Map<string, number>();
  new Counter<Labels | 'outcome'>({
    name: 'lastcall_counterservice_drains_total',
    help: 'Pod drains of a CounterService recorded in its status by this process, by outcome (Clean, Abandoned, Killed, Hard, Crashed, Unknown).',
    labelNames: [...labelNames, 'outcome'],
    registers,
    collect() {
      this.reset();
      const live = present(counterServices, [drainTally, abandonedTally]);
      for (const [key, labels] of live) {
        const tally = drainTally.get(key);
        const seen = new Set([...DRAIN_OUTCOME_LABELS, ...(tally?.keys() ?? [])]);
        for (const outcome of seen) this.inc({ ...labels, outcome }, tally?.get(outcome) ?? 0);
      }
    },
  });
  new Counter<Labels>({
    name: 'lastcall_counterservice_abandoned_increments_total',
    help: 'Increments that drains of a CounterService gave up (from the drain reports this process recorded).',
    labelNames,
    registers,
    collect() {
      this.reset();
      for (const [key, labels] of present(counterServices, [drainTally, abandonedTally])) {
        this.inc(labels, abandonedTally.get(key) ?? 0);
      }
    },
  });
  fromStatus(registry, counterServices, {
    name: 'lastcall_counterservice_grace_period_seconds',
    help: 'terminationGracePeriodSeconds in force for the pods of a CounterService (status.budget.gracePeriodSeconds).',
    value: (cs) => cs.status?.budget?.gracePeriodSeconds,
  });
  fromStatus(registry, counterServices, {
    name: 'lastcall_counterservice_recommended_grace_period_seconds',
    help: 'Grace period the observed drains recommend: propagation + longest drain + margin (status.drains.recommendedGracePeriodSeconds); absent before the first drain.',
    value: (cs) => cs.status?.drains?.recommendedGracePeriodSeconds,
  });
  fromStatus(registry, counterServices, {
    name: 'lastcall_counterservice_budget_accepted',
    help: '1 when the budget is within the DrainPolicy bounds (condition BudgetAccepted=True), 0 when refused; absent before the first status.',
    value: (cs) => conditionValue(cs, 'BudgetAccepted', (c) => c.status === 'True'),
  });
  fromStatus(registry, counterServices, {
    name: 'lastcall_counterservice_rollout_deadline_exceeded',
    help: '1 while the rollout is stuck past its progress deadline (condition Degraded, reason ProgressDeadlineExceeded), else 0.',
    value: (cs) =>
      conditionValue(cs, 'Degraded', (c) => c.status === 'True' && c.reason === 'ProgressDeadlineExceeded') ??
      (cs.status ? 0 : undefined),
  });
  fromStatus(registry, counterServices, {
    name: 'lastcall_counterservice_rollout_duration_seconds',
    help: 'How long the last rollout took (status.lastRollout completedAt - startedAt); while one is under way, how long it has run so far.',
    value: (cs) => rolloutSeconds(cs, now()),
  });
  return {
    drainRecorded(key, record) {
      let tally = drainTally.get(key);
      if (!tally) {
        tally = new Map();
        drainTally.set(key, tally);
      }
      tally.set(record.outcome, (tally.get(record.outcome) ?? 0) + 1);
      if (record.abandoned) abandonedTally.set(key, (abandonedTally.get(key) ?? 0) + record.abandoned);
    },
  };
}

/** The last rollout's duration, or the current one's so far; undefined without a rollout. */
export function rolloutSeconds(cs: CounterService, nowMs: number): number | undefined {
  const rollout = cs.status?.lastRollout;
  const started = Date.parse(rollout?.startedAt ?? '');
  if (Number.isNaN(started)) return undefined;
  const ended = rollout?.completedAt ? Date.parse(rollout.completedAt) : nowMs;
  return Number.isNaN(ended) ? undefined : Math.max(0, (ended - started) / 1000);
}

function conditionValue(
  cs: CounterService,
  type: string,
  isOne: (c: { status: string; reason?: string }) => boolean,
): number | undefined {
  const condition = cs.status?.conditions?.find((c) => c.type === type);
  return condition ? (isOne(condition) ? 1 : 0) : undefined;
}

/** A gauge rebuilt from the cached CounterServices at every scrape. */
function fromStatus(
  registry: Registry,
  counterServices: Lister,
  spec: { name: string; help: string; value: (cs: CounterService) => number | undefined },
): void {
  new Gauge<Labels>({
    name: spec.name,
    help: spec.help,
    labelNames: ['namespace', 'counterservice'],
    registers: [registry],
    collect() {
      this.reset();
      for (const cs of counterServices.list()) {
        const value = spec.value(cs);
        if (value !== undefined) this.set(labelsOf(cs), value);
      }
    },
  });
}

function labelsOf(cs: KubeObject): Record<Labels, string> {
  return { namespace: cs.metadata.namespace ?? '', counterservice: cs.metadata.name ?? '' };
}

/** The cached CounterServices' labels by key; tallies of keys no longer cached are dropped. */
function present(
  counterServices: Lister,
  tallies: ReadonlyArray<Map<string, unknown>>,
): Map<string, Record<Labels, string>> {
  const live = new Map(counterServices.list().map((cs) => [objectKey(cs), labelsOf(cs)]));
  for (const tally of tallies) for (const key of tally.keys()) if (!live.has(key)) tally.delete(key);
  return live;
}
