import { Registry } from 'prom-client';
import { describe, expect, test } from 'vitest';
import type { KubeObject } from '../kube/resources.ts';
import { DRAIN_OUTCOMES } from './api/counterservice.ts';
import type { CounterService } from './api/types.ts';
import {
  DRAIN_OUTCOME_LABELS,
  registerCounterServiceMetrics,
  rolloutSeconds,
} from './counterservice-metrics.ts';

type Cached = CounterService & KubeObject;

function counterService(namespace: string, name: string, status?: CounterService['status']): Cached {
  return {
    apiVersion: 'lastcall.dev/v1alpha1',
    kind: 'CounterService',
    metadata: { namespace, name, uid: `${namespace}-${name}` },
    spec: { replicas: 1, image: 'lastcall/workload:v1', redis: { address: 'redis:6379' } },
    ...(status ? { status } : {}),
  } as Cached;
}

const condition = (type: string, status: string, reason: string) => ({
  type,
  status,
  reason,
  message: '',
  lastTransitionTime: '2026-12-01T00:00:00Z',
});

function setup(items: Cached[]) {
  const registry = new Registry();
  const cache = { items, list: () => cache.items };
  const metrics = registerCounterServiceMetrics(registry, cache, () => Date.parse('2026-12-01T00:01:00Z'));
  /** name{labels} -> value, for the lastcall_counterservice_* series. */
  const scrape = async () => {
    const text = await registry.metrics();
    return Object.fromEntries(
      text
        .split('\n')
        .filter((line) => line.startsWith('lastcall_counterservice_'))
        .map((line) => {
          const i = line.lastIndexOf(' ');
          return [line.slice(0, i), Number(line.slice(i + 1))];
        }),
    );
  };
  return { cache, metrics, scrape };
}

describe('per-CounterService metrics', () => {
  test('the outcomes the metrics pre-create are exactly the API enum', () => {
    expect([...DRAIN_OUTCOME_LABELS].sort()).toEqual([...DRAIN_OUTCOMES].sort());
  });

  test('grace in force, recommended grace, budget and rollout come from status', async () => {
    const { scrape } = setup([
      counterService('team-a', 'counter', {
        budget: { gracePeriodSeconds: 15 } as never,
        drains: {
          observed: 2,
          clean: 1,
          killed: 1,
          abandonedIncrements: 0,
          recommendedGracePeriodSeconds: 22,
        },
        conditions: [
          condition('BudgetAccepted', 'True', 'WithinBounds'),
          condition('Degraded', 'True', 'ProgressDeadlineExceeded'),
        ],
        lastRollout: { toImage: 'lastcall/workload:v2', startedAt: '2026-12-01T00:00:00Z' },
      } as never),
      counterService('team-b', 'fresh'),
    ]);
    const series = await scrape();
    const a = 'namespace="team-a",counterservice="counter"';
    expect(series[`lastcall_counterservice_grace_period_seconds{${a}}`]).toBe(15);
    expect(series[`lastcall_counterservice_recommended_grace_period_seconds{${a}}`]).toBe(22);
    expect(series[`lastcall_counterservice_budget_accepted{${a}}`]).toBe(1);
    expect(series[`lastcall_counterservice_rollout_deadline_exceeded{${a}}`]).toBe(1);
    // Under way for a minute (the clock given to the registry).
    expect(series[`lastcall_counterservice_rollout_duration_seconds{${a}}`]).toBe(60);
    // No status yet: no gauges, but drain counters at 0 so the first drain is seen by increase().
    const b = 'namespace="team-b",counterservice="fresh"';
    expect(series[`lastcall_counterservice_grace_period_seconds{${b}}`]).toBeUndefined();
    expect(series[`lastcall_counterservice_drains_total{${b},outcome="Killed"}`]).toBe(0);
    expect(series[`lastcall_counterservice_abandoned_increments_total{${b}}`]).toBe(0);
  });

  test('a refused budget is 0; drains count by outcome; a deleted CounterService leaves no series', async () => {
    const { cache, metrics, scrape } = setup([
      counterService('ns', 'refused', {
        conditions: [
          condition('BudgetAccepted', 'False', 'AboveMaximum'),
          condition('Degraded', 'True', 'BudgetRejected'),
        ],
      } as never),
    ]);
    metrics.drainRecorded('ns/refused', { pod: 'p1', outcome: 'Killed' });
    metrics.drainRecorded('ns/refused', { pod: 'p2', outcome: 'Abandoned', abandoned: 7 });
    metrics.drainRecorded('ns/refused', { pod: 'p3', outcome: 'Abandoned', abandoned: 3 });
    const l = 'namespace="ns",counterservice="refused"';
    let series = await scrape();
    expect(series[`lastcall_counterservice_budget_accepted{${l}}`]).toBe(0);
    expect(series[`lastcall_counterservice_rollout_deadline_exceeded{${l}}`]).toBe(0);
    expect(series[`lastcall_counterservice_drains_total{${l},outcome="Killed"}`]).toBe(1);
    expect(series[`lastcall_counterservice_drains_total{${l},outcome="Abandoned"}`]).toBe(2);
    expect(series[`lastcall_counterservice_drains_total{${l},outcome="Clean"}`]).toBe(0);
    expect(series[`lastcall_counterservice_abandoned_increments_total{${l}}`]).toBe(10);
    // Bounded: the labels are namespace, counterservice and outcome, nothing else.
    const perObject = Object.keys(series);
    expect(perObject.length).toBeLessThanOrEqual(6 + DRAIN_OUTCOMES.length);

    cache.items = [];
    series = await scrape();
    expect(series).toEqual({});
    // Re-created under the same name: a new object, counted from 0.
    cache.items = [counterService('ns', 'refused')];
    series = await scrape();
    expect(series[`lastcall_counterservice_drains_total{${l},outcome="Killed"}`]).toBe(0);
  });

  test('rollout duration: completed, under way, none', () => {
    const now = Date.parse('2026-12-01T00:10:00Z');
    const of = (lastRollout: unknown) => rolloutSeconds({ status: { lastRollout } } as never, now);
    expect(of({ startedAt: '2026-12-01T00:00:00Z', completedAt: '2026-12-01T00:00:13.5Z' })).toBe(13.5);
    expect(of({ startedAt: '2026-12-01T00:09:00Z' })).toBe(60);
    expect(of(undefined)).toBeUndefined();
  });
});
