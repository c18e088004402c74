import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loopbackTwin, parseCidr } from '../../cluster/addresses.ts';
import {
  allocateNetwork,
  chooseIndex,
  defaultRegistryFile,
  type MachineView,
  maxNetworks,
  networkFor,
  realMachine,
  registeredNetworks,
  releaseNetwork,
  twinsInUse,
} from '../../cluster/network-plan.ts';

const quiet: MachineView = { isLive: () => true, listening: () => new Set() };

describe('networkFor', () => {
  it('gives number 0 the documented defaults', () => {
    expect(networkFor(0)).toEqual({
      index: 0,
      podNetwork: '10.244.0.0/16',
      serviceNetwork: '10.96.0.0/16',
      kubernetesServiceIP: '10.96.0.1',
    });
    expect(networkFor(1)).toMatchObject({
      podNetwork: '10.243.0.0/16',
      serviceNetwork: '10.97.0.0/16',
      kubernetesServiceIP: '10.97.0.1',
    });
  });

  it('keeps every range of every number apart, and away from 127.0.0.0/16', () => {
    const seconds: number[] = [];
    for (let i = 0; i < maxNetworks; i++) {
      const n = networkFor(i);
      for (const cidr of [n.podNetwork, n.serviceNetwork]) {
        expect(parseCidr(cidr).prefix).toBe(16);
        seconds.push(Number(cidr.split('.')[1]));
      }
      expect(loopbackTwin(n.kubernetesServiceIP).startsWith('127.0.')).toBe(false);
    }
    expect(new Set(seconds).size).toBe(2 * maxNetworks);
    expect(seconds.every((s) => s > 0)).toBe(true);
  });

  it('refuses a number outside 0..maxNetworks-1, naming it', () => {
    expect(() => networkFor(64)).toThrow(/network index 64 is not an integer from 0 to 63/);
    expect(() => networkFor(-1)).toThrow(/index -1/);
    expect(() => networkFor(1.5)).toThrow(/index 1.5/);
  });
});

describe('twinsInUse', () => {
  it('sees listeners inside either twin range only', () => {
    const n = networkFor(2); // pods 10.242/16, services 10.98/16
    expect(twinsInUse(n, new Set(['127.0.0.1', '127.96.0.1', '127.243.0.2']))).toBe(false);
    expect(twinsInUse(n, new Set(['127.98.0.1']))).toBe(true);
    expect(twinsInUse(n, new Set(['127.242.255.254']))).toBe(true);
    expect(twinsInUse(n, new Set(['0.0.0.0']))).toBe(false);
  });
});

describe('chooseIndex', () => {
  const entry = (index: number, stateDir: string) => ({ index, stateDir, allocatedAt: '' });

  it('takes the lowest free number', () => {
    expect(chooseIndex([], '/a', quiet).index).toBe(0);
    expect(chooseIndex([entry(0, '/b'), entry(2, '/c')], '/a', quiet).index).toBe(1);
  });

  it('keeps the state dir its own number while its twins are free', () => {
    const r = chooseIndex([entry(3, '/a'), entry(0, '/b')], '/a', quiet);
    expect(r.index).toBe(3);
    expect(r.kept).toEqual([entry(0, '/b')]);
  });

  it('reclaims stale entries', () => {
    const machine: MachineView = { isLive: (e) => e.stateDir !== '/gone', listening: () => new Set() };
    const r = chooseIndex([entry(0, '/gone'), entry(1, '/b')], '/a', machine);
    expect(r.index).toBe(0);
    expect(r.kept).toEqual([entry(1, '/b')]);
  });

  it('skips numbers whose twins have listeners (a cluster the registry does not know)', () => {
    const machine: MachineView = {
      isLive: () => true,
      listening: () => new Set(['127.96.0.1', '127.243.0.5']),
    };
    expect(chooseIndex([], '/a', machine).index).toBe(2);
    // Its own number too, when someone else now listens there.
    expect(chooseIndex([entry(0, '/a')], '/a', machine).index).toBe(2);
  });

  it('says so when every number is held', () => {
    const all = Array.from({ length: maxNetworks }, (_, i) => entry(i, `/d${i}`));
    expect(() => chooseIndex(all, '/a', quiet)).toThrow(/no free cluster network: all 64/);
  });
});

describe('registry file', () => {
  let dir: string;
  let registry: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lc-netplan-'));
    registry = join(dir, 'cache', 'networks.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const stateDir = (name: string) => {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const opts = () => ({ registry, machine: { ...realMachine, listening: () => new Set<string>() } });

  it('allocates distinct numbers, keeps them across re-ups, and releases on down', async () => {
    const a = stateDir('a');
    const b = stateDir('b');
    expect((await allocateNetwork(a, opts())).index).toBe(0);
    expect((await allocateNetwork(b, opts())).index).toBe(1);
    expect((await allocateNetwork(a, opts())).index).toBe(0);
    expect((await registeredNetworks(registry)).map((e) => [e.index, e.stateDir])).toEqual([
      [0, a],
      [1, b],
    ]);
    await releaseNetwork(a, opts());
    expect((await registeredNetworks(registry)).map((e) => e.index)).toEqual([1]);
    // The released number goes to the next cluster.
    expect((await allocateNetwork(stateDir('c'), opts())).index).toBe(0);
  });

  it('reclaims the number of a removed state dir and of one recording another network', async () => {
    const a = stateDir('a');
    const b = stateDir('b');
    await allocateNetwork(a, opts());
    await allocateNetwork(b, opts());
    rmSync(a, { recursive: true });
    // b's cluster.json says it runs on number 5 now: its entry for 1 is stale.
    writeFileSync(join(b, 'cluster.json'), JSON.stringify({ network: networkFor(5) }));
    expect((await allocateNetwork(stateDir('c'), opts())).index).toBe(0);
    expect((await allocateNetwork(stateDir('d'), opts())).index).toBe(1);
  });

  it('serialises concurrent allocations', async () => {
    const dirs = Array.from({ length: 6 }, (_, i) => stateDir(`s${i}`));
    const got = await Promise.all(dirs.map((d) => allocateNetwork(d, opts())));
    expect(new Set(got.map((n) => n.index)).size).toBe(6);
    const written = JSON.parse(readFileSync(registry, 'utf8')) as { networks: unknown[] };
    expect(written.networks).toHaveLength(6);
  });

  it('names the file and the field when the registry is malformed', async () => {
    mkdirSync(join(dir, 'cache'), { recursive: true });
    writeFileSync(registry, JSON.stringify({ networks: 3 }));
    await expect(allocateNetwork(stateDir('a'), opts())).rejects.toThrow(/networks.json: "networks" is 3/);
  });

  it('lives in the user cache unless LASTCALL_NETWORK_REGISTRY says otherwise', () => {
    expect(defaultRegistryFile({ XDG_CACHE_HOME: '/c' })).toBe('/c/lastcall/networks.json');
    expect(defaultRegistryFile({ LASTCALL_NETWORK_REGISTRY: '/x/r.json' })).toBe('/x/r.json');
  });
});
