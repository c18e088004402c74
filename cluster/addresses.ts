/**
 * The local cluster's address plan (the network rule: dial loopback only).
 *
 * Every IPv4 address recorded in the API has a loopback twin: 10.a.b.c -> 127.a.b.c.
 * Pod IPs and Service ClusterIPs are ordinary addresses because EndpointSlice validation refuses
 * loopback; the processes behind them listen on the twin. Each local cluster has its own pod
 * network and service range (network-plan.ts: 10.244.0.0/16 and 10.96.0.0/16 for the first), so
 * the twins of two clusters on one machine never meet.
 */

/** Parses a dotted IPv4 address into its four octets; throws naming the value otherwise. */
function parseIPv4(ip: string): [number, number, number, number] {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new Error(`address "${ip}" is not an IPv4 address (a.b.c.d)`);
  const octets = parts.map((p) => {
    if (!/^\d{1,3}$/.test(p)) throw new Error(`address "${ip}" has an invalid octet "${p}" (0-255 allowed)`);
    const n = Number(p);
    if (n > 255) throw new Error(`address "${ip}" has an invalid octet "${p}" (0-255 allowed)`);
    return n;
  });
  return octets as [number, number, number, number];
}

export function isLoopback(ip: string): boolean {
  return ip === 'localhost' || ip === '::1' || ip.startsWith('127.');
}

/**
 * The loopback twin of an address recorded in the API: 10.a.b.c -> 127.a.b.c.
 * A loopback address is its own twin. Any other address is refused: the machine may not dial it.
 */
export function loopbackTwin(ip: string): string {
  if (ip === 'localhost' || ip === '::1') return '127.0.0.1';
  const [a, b, c, d] = parseIPv4(ip);
  if (a === 127) return ip;
  if (a !== 10) {
    throw new Error(`address "${ip}" has no loopback twin (only 10.x.y.z and 127.x.y.z are allowed)`);
  }
  return `127.${b}.${c}.${d}`;
}

export interface Cidr {
  network: number;
  prefix: number;
}

export function ipToNumber(ip: string): number {
  const [a, b, c, d] = parseIPv4(ip);
  return ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
}

export function numberToIp(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses "10.244.0.0/24"; throws naming the value when it is not an IPv4 CIDR. */
export function parseCidr(cidr: string): Cidr {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(cidr);
  if (!m) throw new Error(`CIDR "${cidr}" is not an IPv4 CIDR (a.b.c.d/n)`);
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30) throw new Error(`CIDR "${cidr}" has prefix /${prefix} (8-30 allowed)`);
  const mask = (0xffffffff << (32 - prefix)) >>> 0;
  return { network: (ipToNumber(m[1] as string) & mask) >>> 0, prefix };
}
