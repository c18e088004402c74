import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The workload's Prometheus metrics, in a registry of its own (no global state). */
export interface WorkloadMetrics {
  registry: Registry;
  /** Requests answered, by route; children bound once so the hot path does no label lookup. */
  requests: Counter<'route'>;
  incrRequests: ReturnType<Counter<'route'>['labels']>;
  completed: Counter;
  alreadyApplied: Counter;
  failedAttempts: Counter;
  abandoned: Counter;
  drainSeconds: Histogram;
}

export function createMetrics(pending: () => number): WorkloadMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'lastcall_workload_' });
  const requests = new Counter({
    name: 'lastcall_workload_requests_total',
    help: 'HTTP requests answered, by route',
    labelNames: ['route'],
    registers: [registry],
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
    incrRequests: requests.labels('incr'),
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
