import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The workload's Prometheus metrics, in a registry of its own (no global state). */
export interface WorkloadMetrics {
  registry: Registry;
  /**
   * Requests answered, by route: plain numbers the routes bump, read when /metrics is scraped.
   * (A prom-client `inc()` hashes its labels on every call: measurable at 10,000+ requests/s.)
   */
  requests: Record<Route, number>;
  /** `/incr` requests answered 503 (nothing promised), by reason; plain numbers like `requests`. */
  refused: Record<RefusalReason, number>;
  completed: Counter;
  alreadyApplied: Counter;
  failedAttempts: Counter;
  abandoned: Counter;
  drainSeconds: Histogram;
}

type Route = 'incr' | 'count' | 'healthz' | 'readyz';
/** full: the pending limit was reached; deadline: the work could not finish before the drain deadline. */
export type RefusalReason = 'full' | 'deadline';

export function createMetrics(pending: () => number): WorkloadMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'lastcall_workload_' });
  const requests: Record<Route, number> = { incr: 0, count: 0, healthz: 0, readyz: 0 };
  new Counter({
    name: 'lastcall_workload_requests_total',
    help: 'HTTP requests answered, by route',
    labelNames: ['route'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [route, value] of Object.entries(requests)) this.inc({ route }, value);
    },
  });
  const refused: Record<RefusalReason, number> = { full: 0, deadline: 0 };
  new Counter({
    name: 'lastcall_workload_increments_refused_total',
    help: 'Increment requests answered 503 with Retry-After instead of a promise, by reason',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [reason, value] of Object.entries(refused)) this.inc({ reason }, value);
    },
  });
  new Gauge({
    name: 'lastcall_workload_pending_increments',
    help: 'Increments promised to a client and not yet confirmed by Redis',
    registers: [registry],
    collect() {
      this.set(pending());
    },
  });
  return {
    registry,
    requests,
    refused,
    completed: new Counter({
      name: 'lastcall_workload_increments_completed_total',
      help: 'Increments confirmed by Redis',
      registers: [registry],
    }),
    alreadyApplied: new Counter({
      name: 'lastcall_workload_increments_already_applied_total',
      help: 'Increments whose re-sent batch found them already applied (not counted twice)',
      registers: [registry],
    }),
    failedAttempts: new Counter({
      name: 'lastcall_workload_increment_attempts_failed_total',
      help: 'Redis calls for a batch of increments that failed and were retried',
      registers: [registry],
    }),
    abandoned: new Counter({
      name: 'lastcall_workload_increments_abandoned_total',
      help: 'Increments given up at the drain deadline',
      registers: [registry],
    }),
    drainSeconds: new Histogram({
      name: 'lastcall_workload_drain_duration_seconds',
      help: 'From the stop signal to the exit decision',
      buckets: [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120],
      registers: [registry],
    }),
  };
}
