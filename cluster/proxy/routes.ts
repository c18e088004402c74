import { loopbackTwin } from '../addresses.ts';

/**
 * The listeners the proxy should have, from the Services: each ClusterIP service port on the
 * ClusterIP's loopback twin (10.96.0.10:6379 -> 127.96.0.10:6379), each nodePort on
 * 127.0.0.1:<nodePort>. TCP only.
 */
interface ServicePort {
  name?: string;
  port: number;
  protocol?: string;
  nodePort?: number;
}

export interface Service {
  metadata: { name: string; namespace: string };
  spec?: { type?: string; clusterIP?: string; ports?: ServicePort[] };
}

export interface Route {
  /** host:port the proxy listens on. */
  listen: string;
  host: string;
  port: number;
  /** namespace/name of the Service. */
  service: string;
  /** Service port name: EndpointSlice ports are matched by it. */
  portName: string;
}

export function desiredRoutes(services: Service[]): Map<string, Route> {
  const routes = new Map<string, Route>();
  for (const s of services) {
    const spec = s.spec ?? {};
    const key = `${s.metadata.namespace}/${s.metadata.name}`;
    if (spec.type === 'ExternalName') continue;
    const clusterIP = spec.clusterIP && spec.clusterIP !== 'None' ? spec.clusterIP : undefined;
    for (const p of spec.ports ?? []) {
      if ((p.protocol ?? 'TCP') !== 'TCP') continue;
      const portName = p.name ?? '';
      if (clusterIP) {
        const host = loopbackTwin(clusterIP);
        routes.set(`${host}:${p.port}`, {
          listen: `${host}:${p.port}`,
          host,
          port: p.port,
          service: key,
          portName,
        });
      }
      if ((spec.type === 'NodePort' || spec.type === 'LoadBalancer') && p.nodePort) {
        const listen = `127.0.0.1:${p.nodePort}`;
        routes.set(listen, { listen, host: '127.0.0.1', port: p.nodePort, service: key, portName });
      }
    }
  }
  return routes;
}
