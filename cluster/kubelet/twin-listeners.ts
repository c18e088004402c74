import { readFileSync } from 'node:fs';
import { loopbackTwin } from '../addresses.ts';

/**
 * Loopback addresses with a listening TCP socket, from /proc/net/tcp. Two local clusters on one
 * machine share the 10.244.0.0/16 plan and so the 127.244.x.y twins; the kubelet skips pod IPs
 * whose twin something already listens on.
 */
export function listeningAddresses(procNetTcp = '/proc/net/tcp'): Set<string> {
  const out = new Set<string>();
  let text = '';
  try {
    text = readFileSync(procNetTcp, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    const local = cols[1];
    if (!local || cols[3] !== '0A') continue; // 0A = TCP_LISTEN
    const hex = local.split(':')[0] as string;
    // Little-endian hex IPv4: 0100007F -> 127.0.0.1
    const bytes = [6, 4, 2, 0].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
    out.add(bytes.join('.'));
  }
  return out;
}

export function twinIsListening(ip: string): boolean {
  return listeningAddresses().has(loopbackTwin(ip));
}
