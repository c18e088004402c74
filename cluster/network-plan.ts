/**
 * Each local cluster's own pod network and service range (the network rule: processes bind the
 * loopback twins 127.a.b.c of the 10.a.b.c addresses recorded in the API, so two clusters on one
 * machine must not share a range, or their proxies fight over 127.96.0.1:443 and one cluster's
 * ClusterIP twin answers for the other's).
 *
 * Cluster number i (0 <= i < maxNetworks) gets
 *   pod network   10.(244 - i).0.0/16   (twins 127.(244 - i).x.y)
 *   service range 10.(96 + i).0.0/16    (twins 127.(96 + i).x.y)
 * so number 0 is the documented default (10.244.0.0/16, 10.96.0.0/16), the second octets stay in
 * 96..159 and 181..244 (never 0: 127.0.0.0/16 holds NodePorts and localhost), and no pod network
 * meets a service range of any number.
 *
 * The numbers are handed out machine-wide through a registry file (default
 * ~/.cache/lastcall/networks.json) under a lock file beside it: the lowest number that no live
 * state dir holds and whose twins nothing listens on (a cluster started before this registry
 * existed, or with another cache dir, still has its proxy and pods bound there). An entry whose
 * state dir is gone, or whose state dir records another network, is stale and reclaimed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ipToNumber, loopbackTwin, numberToIp, parseCidr } from './addresses.ts';
import { readJson, withLock, writeJson } from './components/state.ts';
import { listeningAddresses } from './kubelet/twin-listeners.ts';

export interface ClusterNetwork {
  /** The machine-wide number of this cluster's ranges (0: the documented defaults). */
  index: number;
  /** kube-controller-manager --cluster-cidr: the node's spec.podCIDR (/24) is cut from it. */
  podNetwork: string;
  /** --service-cluster-ip-range of the API server and the controller-manager. */
  serviceNetwork: string;
  /** The `default/kubernetes` Service's ClusterIP: the range's first address (in the API server's certificate). */
  kubernetesServiceIP: string;
}

/** 64 numbers keep pod networks (181..244) and service ranges (96..159) apart. */
export const maxNetworks = 64;

export function networkFor(index: number): ClusterNetwork {
  if (!Number.isInteger(index) || index < 0 || index >= maxNetworks) {
    throw new Error(`network index ${index} is not an integer from 0 to ${maxNetworks - 1}`);
  }
  const serviceNetwork = `10.${96 + index}.0.0/16`;
  return {
    index,
    podNetwork: `10.${244 - index}.0.0/16`,
    serviceNetwork,
    kubernetesServiceIP: numberToIp(parseCidr(serviceNetwork).network + 1),
  };
}

/** The ranges of a cluster whose cluster.json predates per-cluster networks: the defaults. */
export const defaultNetwork: ClusterNetwork = networkFor(0);

/** `$LASTCALL_NETWORK_REGISTRY`, else `$XDG_CACHE_HOME/lastcall/networks.json`, else `~/.cache/lastcall/networks.json`. */
export function defaultRegistryFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LASTCALL_NETWORK_REGISTRY) return resolve(env.LASTCALL_NETWORK_REGISTRY);
  const cache = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'lastcall', 'networks.json');
}

interface RegistryEntry {
  index: number;
  stateDir: string;
  allocatedAt: string;
}

interface Registry {
  version: 1;
  networks: RegistryEntry[];
}

/** What the allocator needs to know about the machine; the defaults look at the real one. */
export interface MachineView {
  /** Whether the entry's cluster still exists (its state dir, recording this network). */
  isLive: (entry: RegistryEntry) => boolean;
  /** Loopback addresses with a listening TCP socket. */
  listening: () => Set<string>;
}

export const realMachine: MachineView = {
  isLive: (entry) => stateDirHolds(entry.stateDir, entry.index),
  listening: () => listeningAddresses(),
};

/**
 * A state dir holds network `index` while it exists, unless its cluster.json records another one.
 * (An `up` registers the number before it writes cluster.json, so a dir without one still holds it.)
 */
function stateDirHolds(stateDir: string, index: number): boolean {
  if (!existsSync(stateDir)) return false;
  try {
    // Synchronous so MachineView stays a plain predicate; cluster.json is a few hundred bytes.
    const state = JSON.parse(readFileSync(join(stateDir, 'cluster.json'), 'utf8')) as {
      network?: { index?: unknown };
    };
    return state.network === undefined || state.network.index === index;
  } catch {
    return true;
  }
}

/** Whether something listens inside the loopback twin of either of `network`'s ranges. */
export function twinsInUse(network: ClusterNetwork, listening: Set<string>): boolean {
  const twins = [network.podNetwork, network.serviceNetwork].map((cidr) => {
    const { network: base, prefix } = parseCidr(cidr);
    return { base: ipToNumber(loopbackTwin(numberToIp(base))), size: 2 ** (32 - prefix) };
  });
  for (const address of listening) {
    let n: number;
    try {
      n = ipToNumber(address);
    } catch {
      continue;
    }
    if (twins.some((t) => n >= t.base && n < t.base + t.size)) return true;
  }
  return false;
}

/**
 * The number for `stateDir`, given the registry's entries (pure: the unit tests drive it).
 * Keeps the state dir's own entry when its twins are free (a re-`up` of the same dir keeps its
 * ranges), else the lowest number no live entry holds and nothing listens in.
 */
export function chooseIndex(
  entries: RegistryEntry[],
  stateDir: string,
  machine: MachineView,
): { index: number; kept: RegistryEntry[] } {
  const others = entries.filter((entry) => entry.stateDir !== stateDir && machine.isLive(entry));
  const own = entries.find((entry) => entry.stateDir === stateDir);
  const taken = new Set(others.map((entry) => entry.index));
  const listening = machine.listening();
  const free = (index: number) => !taken.has(index) && !twinsInUse(networkFor(index), listening);
  if (own !== undefined && own.index < maxNetworks && free(own.index))
    return { index: own.index, kept: others };
  for (let index = 0; index < maxNetworks; index++) {
    if (free(index)) return { index, kept: others };
  }
  throw new Error(
    `no free cluster network: all ${maxNetworks} are held by live state dirs or have listeners on their loopback twins (${others
      .map((entry) => `${entry.index}: ${entry.stateDir}`)
      .join(', ')}); stop a cluster with \`npm run cluster -- down --state-dir DIR\``,
  );
}

interface RegistryOptions {
  registry?: string;
  machine?: MachineView;
}

/** Gives `stateDir` its network and records it in the registry; the caller records it in cluster.json. */
export async function allocateNetwork(stateDir: string, opts: RegistryOptions = {}): Promise<ClusterNetwork> {
  const registry = opts.registry ?? defaultRegistryFile();
  const machine = opts.machine ?? realMachine;
  const dir = resolve(stateDir);
  return withLock(
    registry,
    () => {},
    async () => {
      const current = await readRegistry(registry);
      const { index, kept } = chooseIndex(current.networks, dir, machine);
      const own = current.networks.find((entry) => entry.stateDir === dir && entry.index === index);
      const entry = own ?? { index, stateDir: dir, allocatedAt: new Date().toISOString() };
      await writeJson(registry, {
        version: 1,
        networks: [...kept, entry].sort((a, b) => a.index - b.index),
      } satisfies Registry);
      return networkFor(index);
    },
  );
}

/** `down`: frees `stateDir`'s number (and drops stale entries on the way). */
export async function releaseNetwork(stateDir: string, opts: RegistryOptions = {}): Promise<void> {
  const registry = opts.registry ?? defaultRegistryFile();
  const machine = opts.machine ?? realMachine;
  const dir = resolve(stateDir);
  if (!existsSync(registry)) return;
  await withLock(
    registry,
    () => {},
    async () => {
      const current = await readRegistry(registry);
      const kept = current.networks.filter((entry) => entry.stateDir !== dir && machine.isLive(entry));
      if (kept.length === current.networks.length) return;
      await writeJson(registry, { version: 1, networks: kept } satisfies Registry);
    },
  );
}

/** The registry's entries (for `status` and tests). */
export async function registeredNetworks(registry = defaultRegistryFile()): Promise<RegistryEntry[]> {
  return (await readRegistry(registry)).networks;
}

async function readRegistry(file: string): Promise<Registry> {
  const value = await readJson<Partial<Registry>>(file);
  if (value === undefined) return { version: 1, networks: [] };
  if (!Array.isArray(value.networks)) {
    throw new Error(
      `${file}: "networks" is ${JSON.stringify(value.networks)}, expected a list of {index, stateDir}; ` +
        'remove the file: the next allocation starts a new registry and still skips networks whose twins are listening',
    );
  }
  return {
    version: 1,
    networks: value.networks.filter(
      (entry): entry is RegistryEntry =>
        Number.isInteger(entry?.index) && typeof entry?.stateDir === 'string',
    ),
  };
}
