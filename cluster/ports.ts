import { createServer, type Server } from 'node:net';

/**
 * `count` distinct free TCP ports on 127.0.0.1. Each port is held open until
 * all are chosen, so none is handed out twice; they are released before returning.
 *
 * Ports come from 20000-29999, below both the kernel's ephemeral range
 * (net.ipv4.ip_local_port_range, 32768-60999 by default) and the NodePort range
 * (30000-32767). A port picked with `listen(0)` is an ephemeral one, and every
 * outgoing connection on the machine (a watch, a probe, a test client) may take
 * it in the moment between our check and the component's own bind; seen here
 * as etcd failing with "address already in use". Another local cluster may
 * still race us for a port in this range: the launcher then starts again on
 * new ports.
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => listenOnAnyPort(host)));
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string')
      throw new Error(`could not read the port bound on ${host}`);
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  return ports;
}

const FIRST_PORT = 20000;
const PORT_SPAN = 10000;
const ATTEMPTS = 200;

async function listenOnAnyPort(host: string): Promise<Server> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const port = FIRST_PORT + Math.floor(Math.random() * PORT_SPAN);
    try {
      return await listenOn(host, port);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    }
  }
  throw new Error(
    `no free port on ${host} in ${FIRST_PORT}-${FIRST_PORT + PORT_SPAN - 1} after ${ATTEMPTS} tries`,
  );
}

function listenOn(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => resolve(server));
  });
}

/** One distinct free port per name. */
export async function freePortsNamed<K extends string>(names: readonly K[]): Promise<Record<K, number>> {
  const ports = await freePorts(names.length);
  return Object.fromEntries(names.map((name, index) => [name, ports[index]])) as Record<K, number>;
}

/** Kubernetes' default --service-node-port-range. */
const NODE_PORT_FIRST = 30000;
const NODE_PORT_COUNT = 2768;
/**
 * NodePorts the project's commands use by default (the experiment and demo 30080, the kind e2e
 * suite 30081, the soak command 30190, the fault matrix's habit 30180): never handed out, so a run
 * beside one of them cannot take its port first.
 */
const NAMED_NODE_PORTS = new Set([30080, 30081, 30180, 30190]);

/**
 * A NodePort nothing listens on at 127.0.0.1 right now. Every local cluster on the machine serves
 * its NodePorts there (cluster/proxy), so two test runs with a fixed port send their load to each
 * other's Services; a random free one keeps concurrent runs apart.
 */
export async function freeNodePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const port = NODE_PORT_FIRST + Math.floor(Math.random() * NODE_PORT_COUNT);
    if (NAMED_NODE_PORTS.has(port)) continue;
    try {
      const server = await listenOn(host, port);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return port;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    }
  }
  throw new Error(`no free NodePort on ${host} after ${ATTEMPTS} tries`);
}
