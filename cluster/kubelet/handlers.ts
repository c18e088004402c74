import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { isLoopback, loopbackTwin } from '../addresses.ts';
import { execInContainer } from './runner.ts';

/**
 * The actions shared by probes and lifecycle hooks: httpGet, tcpSocket, exec (and sleep for
 * hooks). Network actions default to the pod IP and dial its loopback twin, never the recorded
 * 10.244.x.y address.
 */
interface HttpGetAction {
  host?: string;
  path?: string;
  port: number | string;
  scheme?: string;
  httpHeaders?: { name: string; value: string }[];
}
interface TcpSocketAction {
  host?: string;
  port: number | string;
}
interface ExecAction {
  command?: string[];
}
export interface Handler {
  exec?: ExecAction;
  httpGet?: HttpGetAction;
  tcpSocket?: TcpSocketAction;
  sleep?: { seconds: number };
  grpc?: { port: number; service?: string };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
}

export interface ActionTarget {
  /** The recorded pod IP (10.244.x.y). */
  podIP: string;
  ports: ContainerPort[];
  /** The container's main PID, for exec actions (run inside its mount namespace). */
  pid: number;
  env: Record<string, string>;
  /** setpriv prefix: exec actions run as the container's user. */
  privileges: string[];
  pidDir: string;
  owner: string;
}

interface ActionResult {
  ok: boolean;
  message: string;
}

function resolvePort(port: number | string, ports: ContainerPort[], field: string): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const found = ports.find((p) => p.name === port);
  if (!found) {
    throw new Error(
      `${field}.port "${port}" names no containerPort (known: ${ports.map((p) => p.name).join(', ')})`,
    );
  }
  return found.containerPort;
}

/** The address to dial: the twin of the pod IP, or of an explicit host; never a non-loopback address. */
function dialHost(host: string | undefined, podIP: string): string {
  if (!host) return loopbackTwin(podIP);
  if (isLoopback(host)) return host === 'localhost' ? '127.0.0.1' : host;
  return loopbackTwin(host);
}

/**
 * Runs a network action against the address it dials. A bad host, or a port name the container
 * does not declare, fails the probe or hook with that message rather than throwing.
 */
function dialing(
  a: { host?: string; port: number | string },
  t: ActionTarget,
  field: string,
  dial: (host: string, port: number) => Promise<ActionResult>,
): Promise<ActionResult> {
  let host: string;
  let port: number;
  try {
    host = dialHost(a.host, t.podIP);
    port = resolvePort(a.port, t.ports, field);
  } catch (err) {
    return Promise.resolve({ ok: false, message: String((err as Error).message) });
  }
  return dial(host, port);
}

function httpGet(a: HttpGetAction, t: ActionTarget, timeoutMs: number, field: string): Promise<ActionResult> {
  return dialing(a, t, field, (host, port) => getOnce(a, host, port, timeoutMs));
}

/** One probe or hook GET: success is a status of 200 to 399, as in the kubelet. */
function getOnce(a: HttpGetAction, host: string, port: number, timeoutMs: number): Promise<ActionResult> {
  return new Promise((resolve) => {
    const secure = (a.scheme ?? 'HTTP').toUpperCase() === 'HTTPS';
    const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.37', Accept: '*/*' };
    for (const h of a.httpHeaders ?? []) headers[h.name] = h.value;
    const path = a.path ?? '/';
    const req = (secure ? https : http).request(
      {
        host,
        port,
        path,
        method: 'GET',
        headers,
        timeout: timeoutMs,
        rejectUnauthorized: false,
        agent: false,
      },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        // Probe success is 200 <= code < 400 (pkg/probe/http).
        resolve({ ok: code >= 200 && code < 400, message: `HTTP probe failed with statuscode: ${code}` });
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error('context deadline exceeded (Client.Timeout exceeded while awaiting headers)')),
    );
    req.on('error', (err) => {
      resolve({
        ok: false,
        message: `Get "${secure ? 'https' : 'http'}://${host}:${port}${path}": ${err.message}`,
      });
    });
    req.end();
  });
}

function tcpSocket(
  a: TcpSocketAction,
  t: ActionTarget,
  timeoutMs: number,
  field: string,
): Promise<ActionResult> {
  return dialing(a, t, field, (host, port) => connectOnce(host, port, timeoutMs));
}

/** One TCP connect: success is an accepted connection, closed at once. */
function connectOnce(host: string, port: number, timeoutMs: number): Promise<ActionResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` });
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: true, message: '' });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, message: `dial tcp ${host}:${port}: ${err.message}` });
    });
  });
}

async function exec(a: ExecAction, t: ActionTarget, timeoutMs: number): Promise<ActionResult> {
  const argv = a.command ?? [];
  if (argv.length === 0) return { ok: false, message: 'exec.command is empty' };
  if (t.pid <= 0) return { ok: false, message: 'container is not running' };
  const r = await execInContainer(t.pid, argv, t.privileges, t.env, timeoutMs, t.pidDir, t.owner);
  if (r.timedOut) return { ok: false, message: `command timed out after ${timeoutMs} ms` };
  return {
    ok: r.code === 0,
    message: r.code === 0 ? r.output : `command ${JSON.stringify(argv)} exited with ${r.code}: ${r.output}`,
  };
}

/**
 * Runs a lifecycle hook handler. Sleep waits the given seconds (or until the abort signal fires,
 * as the kubelet's sleep handler returns when its context ends). Exec hooks have no timeout of
 * their own: the caller bounds them.
 */
export async function runHook(
  h: Handler,
  t: ActionTarget,
  boundMs: number,
  signal?: AbortSignal,
): Promise<ActionResult> {
  if (h.sleep) {
    const slept = await sleepAtLeast(h.sleep.seconds * 1000, signal);
    return slept ? { ok: true, message: '' } : { ok: false, message: 'sleep hook interrupted' };
  }
  if (h.exec) return await exec(h.exec, t, boundMs);
  if (h.httpGet) return await httpGet(h.httpGet, t, boundMs, 'lifecycle.httpGet');
  if (h.tcpSocket) return await tcpSocket(h.tcpSocket, t, boundMs, 'lifecycle.tcpSocket');
  return { ok: false, message: 'hook has no handler (exec, httpGet, sleep)' };
}

/**
 * Waits at least `ms` by the monotonic clock; false when `signal` aborts first. A Node timer may
 * fire up to a millisecond before its delay has passed (it counts from the event loop's cached
 * time), while the kubelet's sleep (Go's time.After) never returns early: a 2 s sleep hook that
 * came back after 1999 ms left the kubelet a 5 s stop window instead of grace - 2 = 4 s.
 */
export function sleepAtLeast(ms: number, signal?: AbortSignal): Promise<boolean> {
  const start = performance.now();
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const aborted = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const wait = (): void => {
      const left = ms - (performance.now() - start);
      if (left <= 0) {
        signal?.removeEventListener('abort', aborted);
        resolve(true);
        return;
      }
      timer = setTimeout(wait, Math.ceil(left));
    };
    if (signal?.aborted) return resolve(false);
    signal?.addEventListener('abort', aborted, { once: true });
    wait();
  });
}

/** Runs a probe action once with its timeout. */
export async function runProbeAction(h: Handler, t: ActionTarget, timeoutMs: number): Promise<ActionResult> {
  if (h.exec) return await exec(h.exec, t, timeoutMs);
  if (h.httpGet) return await httpGet(h.httpGet, t, timeoutMs, 'probe.httpGet');
  if (h.tcpSocket) return await tcpSocket(h.tcpSocket, t, timeoutMs, 'probe.tcpSocket');
  if (h.grpc) {
    return { ok: false, message: 'grpc probes are not supported by the lastcall process kubelet' };
  }
  return { ok: false, message: 'probe has no handler' };
}
