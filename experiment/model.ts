/** What one experiment run measured; the summary, the JSON line and the report read this. */
import type { FaultRecord } from './faults.ts';
import type { LoadTotals } from './load-tally.ts';
import type { DrainModeOption, FaultName, LoadMethod } from './options.ts';

/** What made a run harder than the seed (issue 11): shown in the summary, the JSON line and the report. */
export interface RunConditions {
  /** the local service proxy's delay for this run, seconds; null: the cluster's own (not set by the run) */
  endpointDelaySeconds: number | null;
  /** spec.drain.propagationSeconds as asked; null: the policy default */
  propagationSeconds: number | null;
  /** spec.drain.marginSeconds as asked; absent: the policy default */
  marginSeconds?: number;
  method: LoadMethod;
  slowClients: number;
  fault: FaultName | null;
}

/** The slow clients' own share of the totals. */
interface SlowClientTotals {
  clients: number;
  sent: number;
  ok: number;
  failed: number;
}

/** One second of the run, counted from the start of the load. */
export interface TimelineSecond {
  t: number;
  /** requests sent in this second (by vegeta's request timestamp) */
  sent: number;
  /** of those, answered 2xx */
  ok: number;
  /** of those, answered otherwise or not at all */
  failed: number;
  /** pods Ready and not being deleted */
  podsReady: number;
  /** pods with a deletionTimestamp (preStop, drain, exit) */
  podsTerminating: number;
  /** the Redis counter read through GET /count; null when that read failed */
  counter: number | null;
}

export interface RolloutRecord {
  /** 1-based */
  index: number;
  fromImage: string;
  toImage: string;
  /** seconds since the load started: the image patch */
  startedAt: number;
  /** every replica on the new image and Ready */
  readyAt: number | null;
  /** and every old pod gone: drained and exited */
  completedAt: number | null;
}

/** One terminated pod as the operator reports it in status.drains.recent (fields as the operator writes them). */
export type DrainRecord = Record<string, unknown> & { pod?: string };

/** What the load sent and had answered, against what the counter counted: every run's verdict. */
export interface CountedLoad {
  sent: number;
  ok: number;
  failed: number;
  counter: number;
  /** answered 2xx but never counted: ok - counter */
  lost: number;
  failures: Record<string, number>;
  maxLatencyMs: number;
}

/** The load's totals against the counter read at the end. */
export function countedLoad(totals: LoadTotals, counter: number): CountedLoad {
  return {
    sent: totals.sent,
    ok: totals.ok,
    failed: totals.failed,
    counter,
    lost: totals.ok - counter,
    failures: totals.failures,
    maxLatencyMs: totals.maxLatencyMs,
  };
}

export interface ExperimentResult extends CountedLoad {
  mode: DrainModeOption;
  rate: number;
  duration: number;
  replicas: number;
  rollouts: number;
  namespace: string;
  name: string;
  nodePort: number;
  /** first image patch to the last rollout's completion, seconds */
  rolloutSeconds: number | null;
  rolloutRecords: RolloutRecord[];
  /** drain records of the pods this run replaced */
  drains: DrainRecord[];
  /** pods replaced during the run that have no drain record (yet) */
  drainsMissing: string[];
  /** the operator's grace-period budget, status.budget.gracePeriodSeconds */
  gracePeriodSeconds: number | null;
  timeline: TimelineSecond[];
  /** absent in results from before the harder conditions existed */
  conditions?: RunConditions;
  /** faults injected, with their times on the timeline */
  faults?: FaultRecord[];
  /** included in sent/ok/failed; null without slow clients */
  slow?: SlowClientTotals | null;
  startedAt: string;
  /** setup, load, rollouts, drains and the final count, seconds */
  wallSeconds: number;
  reportPath: string | null;
}

export interface SweepPoint {
  rate: number;
  sent: number;
  ok: number;
  failed: number;
  lost: number;
  /** set when the run itself could not complete (e.g. the rollout timed out) */
  error: string | null;
  /** failures by cause, e.g. "address already in use" (the load generator's own ports ran out) */
  failures?: Record<string, number>;
}

export interface SweepResult {
  points: SweepPoint[];
  /** the highest rate that lost nothing and failed nothing; null if none */
  highestLosslessRate: number | null;
  /** the lowest rate that lost or failed; null if none did up to the ceiling */
  lowestLossyRate: number | null;
}

/** Graceful passes when nothing was lost and nothing failed; hard is the negative control and always "runs". */
export function passed(result: Pick<ExperimentResult, 'mode' | 'lost' | 'failed'>): boolean {
  return result.mode === 'hard' || (result.lost === 0 && result.failed === 0);
}

export function lossless(point: Pick<SweepPoint, 'lost' | 'failed' | 'error'>): boolean {
  return point.error === null && point.lost === 0 && point.failed === 0;
}
