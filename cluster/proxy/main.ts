import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { connectKube } from '../../kube/connect.ts';
import { Reflector } from '../../kube/reflector.ts';
import { coreTypes, type KubeObject, objectKey } from '../../kube/resources.ts';
import { loopbackTwin } from '../addresses.ts';
import { DelayedView, parseEndpointDelay } from './endpoint-delay.ts';
import { backendsFor, type EndpointSlice, RoundRobin } from './endpoints.ts';
import { desiredRoutes, type Route, type Service } from './routes.ts';

/**
 * The lastcall service proxy: a userspace kube-proxy for loopback. Wiring only; the choices live in
 * routes.ts (what to listen on) and endpoints.ts (where a new connection goes).
 *   node cluster/proxy/main.ts --kubeconfig F --health-port H [--endpoint-delay S]
 * --endpoint-delay: seconds between an EndpointSlice change and its routing change (endpoint-delay.ts);
 * changed at run time with PUT <health>/endpoint-delay?seconds=S.
 */
const log = pino({ name: 'proxy' });
const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    'health-port': { type: 'string' },
    'endpoint-delay': { type: 'string', default: '0' },
  },
});
if (!values.kubeconfig) throw new Error('--kubeconfig is required');
const healthPort = Number(values['health-port']);
if (!Number.isInteger(healthPort) || healthPort < 1 || healthPort > 65535) {
  throw new Error(`--health-port "${values['health-port']}" is not a port (1-65535)`);
}

const endpointDelaySeconds = parseEndpointDelay(values['endpoint-delay'] ?? '0', '--endpoint-delay');

// kube/'s kubeconfig reader keeps @kubernetes/client-node (about 90 MB resident) out of the proxy.
const api = await connectKube({ kubeconfig: values.kubeconfig, userAgent: 'lastcall-proxy' });
let ready = false;

interface Listener {
  route: Route;
  server: net.Server;
  rr: RoundRobin;
}
const listeners = new Map<string, Listener>();
/** Listen addresses that failed to bind (another local cluster's proxy may hold them): retry with back-off. */
const failedBinds = new Map<string, { attempts: number; retryAt: number }>();
/**
 * default/kubernetes has no endpoints here (the API server runs with --endpoint-reconciler-type=none
 * and a loopback address), so its ClusterIP is routed to the API server the kubeconfig names.
 */
let apiServer: { host: string; port: number } | undefined;

/** A local API server restarts in seconds: retry watches at most every 5 s, not client-go's 30. */
const watchBackoff = { baseMs: 200, maxMs: 5_000, jitter: 0.5 };
const services = new Reflector<KubeObject>({
  client: api,
  type: coreTypes.service,
  log,
  backoff: watchBackoff,
});
services.onChange(() => schedule());
/**
 * What new connections are routed by: the watch's slices, each change applied --endpoint-delay
 * after the watch delivered it (no delay during the first sync: the proxy starts with what exists).
 */
const routedSlices = new DelayedView<EndpointSlice>(0);
const slices = new Reflector<KubeObject>({
  client: api,
  type: coreTypes.endpointSlice,
  log,
  backoff: watchBackoff,
});
slices.onChange((change) =>
  routedSlices.update(
    objectKey(change.object),
    change.type === 'deleted' ? undefined : (change.object as unknown as EndpointSlice),
  ),
);

function slicesOf(service: string): EndpointSlice[] {
  const [ns, name] = service.split('/') as [string, string];
  return routedSlices
    .values()
    .filter((s) => s.metadata.namespace === ns && s.metadata.labels?.['kubernetes.io/service-name'] === name);
}

/**
 * One accepted connection: pick a backend among the current endpoints (read at accept time, so
 * EndpointSlice changes apply to new connections only, like conntrack), dial its loopback twin,
 * pipe both ways. No retry on another endpoint: kube-proxy does not retry either, and the
 * experiment must see the failures a real cluster would show.
 */
function handle(l: Listener, client: net.Socket): void {
  const backend =
    l.rr.pick(backendsFor(slicesOf(l.route.service), l.route.portName)) ??
    (l.route.service === 'default/kubernetes' && apiServer
      ? { ip: apiServer.host, dial: apiServer.host, port: apiServer.port }
      : undefined);
  if (!backend) {
    // kube-proxy REJECTs traffic to a service without endpoints: the client sees a refused/reset connection.
    log.debug({ route: l.route.listen, service: l.route.service }, 'no endpoints, rejecting');
    client.resetAndDestroy();
    return;
  }
  // Half-open both ways: a client that shuts down its sending side still gets the whole answer.
  const upstream = net.connect({ host: backend.dial, port: backend.port, allowHalfOpen: true });
  upstream.setNoDelay(true);
  client.setNoDelay(true);
  const fail = (side: string) => (err: Error) => {
    log.debug(
      { route: l.route.listen, backend: `${backend.ip}:${backend.port}`, side, err: err.message },
      'connection error',
    );
    if (!client.destroyed) client.resetAndDestroy();
    if (!upstream.destroyed) upstream.destroy();
  };
  upstream.once('error', fail('upstream'));
  client.once('error', fail('client'));
  client.pipe(upstream);
  upstream.pipe(client);
}

function open(route: Route): void {
  const l: Listener = { route, server: net.createServer({ allowHalfOpen: true }), rr: new RoundRobin() };
  l.server.on('connection', (socket) => handle(l, socket));
  l.server.on('error', (err) => {
    const prior = failedBinds.get(route.listen);
    const attempts = (prior?.attempts ?? 0) + 1;
    const delay = Math.min(1_000 * 2 ** attempts, 60_000);
    if (attempts === 1 || attempts % 10 === 0) {
      log.error(
        { listen: route.listen, service: route.service, err: err.message, attempts },
        'listen failed, will retry',
      );
    }
    if (listeners.get(route.listen) === l) listeners.delete(route.listen);
    failedBinds.set(route.listen, { attempts, retryAt: Date.now() + delay });
    setTimeout(schedule, delay).unref();
  });
  l.server.listen(route.port, route.host, () => {
    failedBinds.delete(route.listen);
    log.info({ listen: route.listen, service: route.service, port: route.portName }, 'listening');
  });
  listeners.set(route.listen, l);
}

function reconcile(): void {
  const desired = desiredRoutes(services.store.list() as unknown as Service[]);
  for (const [key, l] of listeners) {
    const want = desired.get(key);
    if (!want || want.service !== l.route.service || want.portName !== l.route.portName) {
      // Established connections stay (as conntrack entries do); no new ones are accepted.
      l.server.close();
      listeners.delete(key);
      log.info({ listen: key, service: l.route.service }, 'closed');
    }
  }
  for (const [key, route] of desired) {
    if (listeners.has(key)) continue;
    if ((failedBinds.get(key)?.retryAt ?? 0) > Date.now()) continue;
    open(route);
  }
  for (const key of failedBinds.keys()) if (!desired.has(key)) failedBinds.delete(key);
}

let pending: NodeJS.Timeout | undefined;
function schedule(): void {
  if (pending) return;
  pending = setTimeout(() => {
    pending = undefined;
    reconcile();
  }, 10);
}

const health = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://proxy');
  if (url.pathname === '/debug/endpoints') {
    // What this proxy currently knows of a Service's endpoints (from its watch), for debugging and
    // for tests that must wait until the proxy has seen a change.
    const service = url.searchParams.get('service') ?? '';
    const body = slicesOf(service).flatMap((s) =>
      (s.endpoints ?? []).map((e) => ({ addresses: e.addresses, conditions: e.conditions ?? {} })),
    );
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    return;
  }
  if (url.pathname === '/endpoint-delay') {
    // GET: the current delay; PUT ?seconds=S: a new one, in effect when the answer arrives.
    if (req.method === 'PUT') {
      try {
        const seconds = parseEndpointDelay(url.searchParams.get('seconds') ?? '', 'seconds');
        routedSlices.setDelay(seconds);
        log.info({ endpointDelaySeconds: seconds }, 'endpoint delay changed');
      } catch (error) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end((error as Error).message);
        return;
      }
    } else if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET, PUT' }).end();
      return;
    }
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ seconds: routedSlices.delaySeconds, pending: routedSlices.pending }));
    return;
  }
  const ok = url.pathname === '/healthz' ? ready : url.pathname === '/livez';
  res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok' : 'not ready');
});
health.listen(healthPort, '127.0.0.1');

async function main(): Promise<void> {
  const server = new URL(api.server);
  apiServer = { host: loopbackTwin(server.hostname), port: Number(server.port || 443) };
  services.start();
  slices.start();
  await Promise.all([services.waitForSync(), slices.waitForSync()]);
  routedSlices.setDelay(endpointDelaySeconds);
  reconcile();
  ready = true;
  log.info({ listeners: listeners.size, endpointDelaySeconds }, 'first sync done, proxy ready');
}

function shutdown(signal: string): void {
  log.info({ signal }, 'proxy shutting down');
  void services.stop();
  void slices.stop();
  routedSlices.stop();
  for (const l of listeners.values()) l.server.close();
  health.close();
  setTimeout(() => process.exit(0), 100).unref();
}
process.once('SIGTERM', () => shutdown('SIGTERM'));
process.once('SIGINT', () => shutdown('SIGINT'));
main().catch((err) => {
  log.fatal({ err: String(err) }, 'proxy failed');
  process.exit(1);
});
