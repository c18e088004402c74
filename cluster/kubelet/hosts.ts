import { open } from 'node:fs/promises';
import { loopbackTwin } from '../addresses.ts';

/**
 * The pod's /etc/hosts stands in for cluster DNS: each Service of the pod's namespace resolves to
 * the loopback twin of its ClusterIP (where the service proxy listens), under the names cluster DNS
 * would answer for a pod in that namespace: `name`, `name.ns`, `name.ns.svc`,
 * `name.ns.svc.cluster.local`. Services of other namespaces get their qualified names only.
 */
export interface ServiceAddress {
  name: string;
  namespace: string;
  clusterIP: string | undefined;
}

export interface HostsPod {
  name: string;
  namespace: string;
  hostname?: string;
  /** The recorded pod IP (10.244.x.y); the file maps the pod's hostname to its twin. */
  podIP: string;
  /** spec.hostAliases: 10.x and 127.x addresses (as twins); others cannot be dialed here and are left out. */
  hostAliases?: { ip: string; hostnames?: string[] }[];
}

const CLUSTER_DOMAIN = 'cluster.local';

function hasClusterIP(ip: string | undefined): ip is string {
  return ip !== undefined && ip !== '' && ip !== 'None';
}

export function renderHosts(pod: HostsPod, services: ServiceAddress[]): string {
  const lines = [
    '# Kubernetes-managed hosts file (lastcall process kubelet): service names -> loopback twins.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `${loopbackTwin(pod.podIP)}\t${pod.hostname ?? pod.name}`,
  ];
  for (const alias of pod.hostAliases ?? []) {
    const names = (alias.hostnames ?? []).join(' ');
    if (!names) continue;
    try {
      lines.push(`${loopbackTwin(alias.ip)}\t${names}`);
    } catch {
      lines.push(`# hostAlias ${alias.ip} (${names}) left out: not a loopback-twinned address`);
    }
  }
  const sorted = [...services]
    .filter((s) => hasClusterIP(s.clusterIP))
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  for (const s of sorted) {
    const fqdn = `${s.name}.${s.namespace}.svc.${CLUSTER_DOMAIN}`;
    const names =
      s.namespace === pod.namespace
        ? [s.name, `${s.name}.${s.namespace}`, `${s.name}.${s.namespace}.svc`, fqdn]
        : [`${s.name}.${s.namespace}`, `${s.name}.${s.namespace}.svc`, fqdn];
    lines.push(`${loopbackTwin(s.clusterIP as string)}\t${names.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Rewrites the file in place (truncate + write on the same inode): the file is bind-mounted over
 * /etc/hosts inside the container's mount namespace, and a bind mount follows the inode, so a
 * rename would leave the container looking at the old file.
 */
export async function writeInPlace(file: string, content: string): Promise<void> {
  const handle = await open(file, 'r+').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return open(file, 'w+');
    throw err;
  });
  try {
    const current = await handle.readFile('utf8');
    if (current === content) return;
    // Write first, then cut the tail: a reader never sees an empty file.
    const bytes = Buffer.from(content, 'utf8');
    await handle.write(bytes, 0, bytes.length, 0);
    await handle.truncate(bytes.length);
  } finally {
    await handle.close();
  }
}
