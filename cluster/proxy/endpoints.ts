import { loopbackTwin } from '../addresses.ts';

/**
 * Which endpoints a new connection may go to, as kube-proxy chooses them
 * (pkg/proxy/topology.go CategorizeEndpoints): the ready ones; when none is ready, the ones that
 * are serving and terminating, so that connections are not refused while every pod drains.
 */
interface SliceEndpoint {
  addresses: string[];
  conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
}

interface SlicePort {
  name?: string | null;
  port?: number | null;
  protocol?: string | null;
}

export interface EndpointSlice {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  addressType: string;
  endpoints?: SliceEndpoint[] | null;
  ports?: SlicePort[] | null;
}

interface Backend {
  /** The address recorded in the API (10.244.x.y). */
  ip: string;
  /** Where to dial: its loopback twin. */
  dial: string;
  port: number;
}

/** Backends of one service port (matched by port name, as kube-proxy does), deduplicated by address. */
export function backendsFor(slices: EndpointSlice[], portName: string): Backend[] {
  const ready: Backend[] = [];
  const fallback: Backend[] = [];
  const seen = new Set<string>();
  for (const slice of slices) {
    if (slice.addressType !== 'IPv4') continue;
    const port = (slice.ports ?? []).find(
      (p) => (p.name ?? '') === portName && (p.protocol ?? 'TCP') === 'TCP' && p.port,
    );
    if (!port?.port) continue;
    for (const ep of slice.endpoints ?? []) {
      const c = ep.conditions ?? {};
      // A nil `ready` means ready (EndpointConditions docs: "nil should be interpreted as true").
      const isReady = c.ready !== false;
      const isServing = c.serving ?? isReady;
      const isTerminating = c.terminating ?? false;
      for (const ip of ep.addresses) {
        const key = `${ip}:${port.port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const backend = { ip, dial: loopbackTwin(ip), port: port.port };
        if (isReady) ready.push(backend);
        else if (isServing && isTerminating) fallback.push(backend);
      }
    }
  }
  return ready.length > 0 ? ready : fallback;
}

/** Round-robin over a changing backend list; the cursor survives list updates. */
export class RoundRobin {
  #cursor = 0;

  pick(backends: Backend[]): Backend | undefined {
    if (backends.length === 0) return undefined;
    const b = backends[this.#cursor % backends.length];
    this.#cursor = (this.#cursor + 1) % 1_000_000;
    return b;
  }
}
