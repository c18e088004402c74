// The lastcall operator process: wiring only. Configuration, API client, leader election, the
// CounterService controller (its caches and reconciler: counterservice-controller.ts), probe and
// metrics servers, graceful shutdown.
import pino from 'pino';
import { connectKube } from '../kube/connect.ts';
import { setupCounterServiceController } from './counterservice-controller.ts';
import { LeaderElector } from './runtime/leader.ts';
import { createMetrics } from './runtime/metrics.ts';
import { kubeMetricsAuthorizer } from './runtime/metrics-auth.ts';
import { type OperatorOptions, OptionsError, parseOptions } from './runtime/options.ts';
import { serverVersionProblem, type VersionInfo } from './runtime/server-version.ts';
import { startMetricsServer, startProbeServer } from './runtime/servers.ts';
import { servingCertificate, watchCertificate } from './runtime/serving-certificate.ts';

let options: OperatorOptions;
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof OptionsError)) throw err;
  process.stderr.write(`lastcall-operator: ${err.message}\n`);
  process.exit(2);
}

const log = pino({
  level: options.logLevel,
  base: { component: 'lastcall-operator', identity: options.identity },
});
const metrics = createMetrics();

// Our own kubeconfig reader, or client-node's for auth plugins (loaded only then: it costs ~90 MB).
const client = await connectKube({
  kubeconfig: options.kubeconfig,
  userAgent: `lastcall-operator/${options.identity}`,
  onAuthPlugin: (reason) => log.info({ reason }, 'using @kubernetes/client-node for this kubeconfig'),
}).catch((err: Error) => {
  log.fatal({ err: err.message }, 'could not load the API server credentials');
  log.flush();
  process.exit(2);
});
client.observe(({ verb, resource, code, seconds }) => {
  metrics.apiRequests.inc({ verb, resource, code: String(code) });
  if (verb !== 'watch') metrics.apiRequestDuration.observe({ verb }, seconds);
});
log.info(
  { server: client.server, leaderElect: options.leaderElect, concurrency: options.concurrency },
  'starting',
);

// Too old a server would silently drop the preStop sleep (docs: supported versions). An unreachable
// one is not a reason to stop: the reflectors retry, and the check is only a guard.
const version = await client
  .request<VersionInfo>('GET', '/version', { timeoutMs: 10_000 })
  .catch((err: Error) => {
    log.warn({ err: err.message }, 'could not read the API server version');
    return undefined;
  });
const versionProblem = version && serverVersionProblem(version);
if (versionProblem) {
  log.fatal({ serverVersion: version.gitVersion }, versionProblem);
  log.flush();
  process.exit(2);
}

// Aborted when the lease is lost: the reconciles in flight stop writing at once, since another
// replica may take over as soon as the lease expires.
const leadership = new AbortController();
const controller = setupCounterServiceController({
  client,
  log,
  metrics,
  options,
  signal: leadership.signal,
});
const { reflectors } = controller;

const elector = options.leaderElect
  ? new LeaderElector({
      client,
      namespace: options.leaseNamespace,
      name: options.leaseName,
      identity: options.identity,
      log,
      leaseDurationMs: options.leaseDurationSeconds * 1000,
      renewDeadlineMs: options.renewDeadlineSeconds * 1000,
      retryPeriodMs: options.retryPeriodSeconds * 1000,
    })
  : undefined;

const [probes, metricsServer] = await Promise.all([
  startProbeServer({
    host: options.bindAddress,
    port: options.healthPort,
    healthz: { ping: () => undefined },
    // Ready once the caches are filled; a standby replica is ready too (it serves probes and metrics
    // and takes over at once), leadership is not readiness.
    readyz: {
      'informers-synced': () => {
        const waiting = reflectors.filter((r) => !r.synced).map((r) => r.type.plural);
        return waiting.length ? `waiting for ${waiting.join(', ')}` : undefined;
      },
    },
  }),
  startMetricsServer({
    host: options.bindAddress,
    port: options.metricsPort,
    registry: metrics.registry,
    // kubebuilder v4's secure metrics: HTTPS, and only callers the API server authenticates
    // (TokenReview) and authorizes for GET /metrics (SubjectAccessReview).
    ...(options.metricsSecure
      ? {
          tls: servingCertificate(options.metricsCertDir, [
            `lastcall-operator-metrics.${options.leaseNamespace}.svc`,
            'localhost',
            ...(options.bindAddress !== '0.0.0.0' ? [options.bindAddress] : []),
          ]),
          authorize: kubeMetricsAuthorizer(client),
          onRefused: (refusal: { status: number; reason: string; user?: string }) =>
            log.debug(refusal, 'metrics request refused'),
        }
      : {}),
  }),
]).catch((err: Error) => {
  // EADDRINUSE and friends: say which address, do not die of an unhandled rejection.
  log.fatal({ err: err.message, bindAddress: options.bindAddress }, 'could not listen');
  log.flush();
  process.exit(1);
});
log.info(
  { healthPort: probes.port, metricsPort: metricsServer.port, metricsSecure: options.metricsSecure },
  'listening',
);
// A certificate from --metrics-cert-dir is renewed in place (cert-manager): serve the new one.
const certificateWatcher =
  options.metricsSecure && options.metricsCertDir
    ? watchCertificate(
        options.metricsCertDir,
        (tls) => {
          try {
            metricsServer.setCertificate(tls);
            log.info({ certDir: options.metricsCertDir }, 'metrics certificate reloaded');
          } catch (err) {
            log.error(
              { err: (err as Error).message },
              'renewed metrics certificate refused, keeping the old one',
            );
          }
        },
        (err) => log.warn({ err: err.message }, 'could not read the renewed metrics certificate'),
      )
    : undefined;

const stopping = new AbortController();
let exitCode = 0;
let shutdown: Promise<void> | undefined;

function stop(reason: string, code = 0): Promise<void> {
  exitCode = Math.max(exitCode, code);
  shutdown ??= (async () => {
    log.info({ reason }, 'shutting down: no new reconciles, finishing the ones in flight');
    stopping.abort();
    const deadline = setTimeout(() => {
      log.error(
        { timeoutSeconds: options.shutdownTimeoutSeconds },
        'shutdown deadline passed, exiting anyway',
      );
      log.flush();
      process.exit(1);
    }, options.shutdownTimeoutSeconds * 1000);
    deadline.unref();
    await controller.stop();
    // Only after the last reconcile: the next leader must not start while we still write.
    await elector?.release();
    metrics.leader.set(0);
    await Promise.all(reflectors.map((r) => r.stop()));
    certificateWatcher?.close();
    await Promise.all([probes.close(), metricsServer.close()]);
    await client.close();
    log.info({ exitCode }, 'stopped');
    log.flush();
    clearTimeout(deadline);
    process.exitCode = exitCode;
  })();
  return shutdown;
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));

for (const reflector of reflectors) reflector.start();

if (elector) {
  // The fence: no write leaves this process once the renew deadline has passed, whether or not the
  // renewal's timer has fired yet (leader.ts, pastRenewDeadline); the first write it stops also
  // ends the leadership, so the reconciles in flight stop too.
  const fenceElector = elector;
  client.fenceWrites(() => {
    if (!fenceElector.pastRenewDeadline()) return undefined;
    const error = new Error('not written: the leader is past its renew deadline');
    leadership.abort(error);
    return error;
  });
  const leading = await elector.acquire(stopping.signal);
  if (leading) {
    elector.keepRenewing((reason) => {
      // Another replica may take over once the lease expires: stop acting at once, as
      // controller-runtime does, and let the restart start over as a candidate.
      leadership.abort(new Error(`lost leadership: ${reason}`));
      void stop(`lost leadership: ${reason}`, 1);
    });
  }
}
if (!stopping.signal.aborted) {
  metrics.leader.set(1);
  await controller.run();
  log.info({ counterServices: controller.size }, 'caches synced, reconciling');
}
