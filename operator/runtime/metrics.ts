import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The operator's Prometheus metrics, in one registry served on /metrics. */
export interface Metrics {
  registry: Registry;
  reconciles: Counter<'controller' | 'result'>;
  reconcileErrors: Counter<'controller'>;
  reconcileDuration: Histogram<'controller'>;
  queueDepth: Gauge<'controller'>;
  apiRequests: Counter<'verb' | 'resource' | 'code'>;
  apiRequestDuration: Histogram<'verb'>;
  watchRestarts: Counter<'resource' | 'reason'>;
  writesSkipped: Counter<'resource'>;
  leader: Gauge;
  drains: Counter<'outcome'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'lastcall_operator_' });
  const registers = [registry];
  return {
    registry,
    reconciles: new Counter({
      name: 'lastcall_reconcile_total',
      help: 'Reconciles by controller and result (success, error, requeue_after).',
      labelNames: ['controller', 'result'],
      registers,
    }),
    reconcileErrors: new Counter({
      name: 'lastcall_reconcile_errors_total',
      help: 'Reconciles that failed and were requeued with back-off.',
      labelNames: ['controller'],
      registers,
    }),
    reconcileDuration: new Histogram({
      name: 'lastcall_reconcile_duration_seconds',
      help: 'Time one reconcile took.',
      labelNames: ['controller'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'lastcall_workqueue_depth',
      help: 'Keys waiting in the work queue.',
      labelNames: ['controller'],
      registers,
    }),
    apiRequests: new Counter({
      name: 'lastcall_api_requests_total',
      help: 'Requests to the Kubernetes API server by verb, resource and HTTP status code (0: no response).',
      labelNames: ['verb', 'resource', 'code'],
      registers,
    }),
    apiRequestDuration: new Histogram({
      name: 'lastcall_api_request_duration_seconds',
      help: 'Latency of non-watch requests to the Kubernetes API server.',
      labelNames: ['verb'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    watchRestarts: new Counter({
      name: 'lastcall_watch_restarts_total',
      help: 'Watches reopened: reconnect (server timeout), relist (410 Gone), error (dropped or refused).',
      labelNames: ['resource', 'reason'],
      registers,
    }),
    writesSkipped: new Counter({
      name: 'lastcall_apply_skipped_total',
      help: 'Applies skipped because the live object already had the desired fields.',
      labelNames: ['resource'],
      registers,
    }),
    leader: new Gauge({
      name: 'lastcall_leader',
      help: '1 while this replica holds the leader lease.',
      registers,
    }),
    drains: new Counter({
      name: 'lastcall_drains_observed_total',
      help: 'Pod drains recorded in status, by outcome (Clean, Abandoned, Killed, Unknown).',
      labelNames: ['outcome'],
      registers,
    }),
  };
}
