// Two local clusters on one machine: the shared test cluster (inject('kubeconfig')) and one of
// this file's own in a temporary state dir. Each gets its own pod network and service range
// (network-plan.ts), so the loopback twins its proxy and pods bind never meet the other's: a
// Service at the same offset of each service range, and `default/kubernetes` in each, answer
// through their own cluster's proxy.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { checkServerIdentity } from 'node:tls';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ipToNumber, loopbackTwin, numberToIp, parseCidr } from '../../cluster/addresses.ts';
import type { DaemonRecord } from '../../cluster/components/daemon.ts';
import { type ClusterStatus, down, status, up } from '../../cluster/launcher.ts';
import type { ClusterNetwork } from '../../cluster/network-plan.ts';
import { pkiLayout } from '../../cluster/pki.ts';
import type { KubeClient } from '../../kube/client.ts';
import { waitFor } from '../../kube/poll.ts';
import {
  createNamespace,
  deleteNamespace,
  httpGetText,
  namedHttpContainer,
  podReady,
  runsProcessKubelet,
  testApi,
  uniqueName,
} from './kubelet/testing.ts';

const sharedKubeconfig = inject('kubeconfig');
const sharedApi = await testApi(sharedKubeconfig);
// Only the launcher's clusters record a state dir beside the kubeconfig (not kind, not
// LASTCALL_E2E_KUBECONFIG), and only a process kubelet and proxy serve the twins.
const shared = await status({ stateDir: dirname(sharedKubeconfig) });
const local = shared.components.some((c) => c.name === 'proxy') && (await runsProcessKubelet(sharedApi));

const ns = uniqueName('lc-two');
let parent: string;
let own: ClusterStatus;
let ownApi: KubeClient;

interface Side {
  name: string;
  api: KubeClient;
  cluster: ClusterStatus;
}
let sides: Side[] = [];

describe.runIf(local)('two local clusters at once', () => {
  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'lastcall-two-clusters-'));
    const handle = await up({ stateDir: join(parent, 'cluster'), components: 'all' });
    own = await status({ stateDir: handle.stateDir });
    ownApi = await testApi(handle.kubeconfig);
    sides = [
      { name: 'shared', api: sharedApi, cluster: shared },
      { name: 'own', api: ownApi, cluster: own },
    ];
    for (const side of sides) await createNamespace(side.api, ns);
  }, 240_000);

  afterAll(async () => {
    await deleteNamespace(sharedApi, ns);
    if (parent !== undefined) {
      await down({ stateDir: join(parent, 'cluster') });
      await rm(parent, { recursive: true, force: true });
    }
  }, 60_000);

  it('gives each cluster its own ranges, recorded and used by every component', async () => {
    const a = shared.network as ClusterNetwork;
    const b = own.network as ClusterNetwork;
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    expect(b.index).not.toBe(a.index);
    // Twins are 127.<second octet>.x.y for /16 ranges: four distinct second octets, none 0.
    const seconds = [a.podNetwork, a.serviceNetwork, b.podNetwork, b.serviceNetwork].map((cidr) => {
      expect(parseCidr(cidr).prefix).toBe(16);
      return Number(cidr.split('.')[1]);
    });
    expect(new Set(seconds).size).toBe(4);
    expect(seconds).not.toContain(0);

    const stateDir = own.stateDir;
    const recorded = JSON.parse(await readFile(join(stateDir, 'cluster.json'), 'utf8')) as {
      network: ClusterNetwork;
    };
    expect(recorded.network).toEqual(b);
    const pids = JSON.parse(await readFile(join(stateDir, 'pids.json'), 'utf8')) as Record<
      string,
      DaemonRecord
    >;
    expect(pids['kube-apiserver']?.command).toContain(`--service-cluster-ip-range=${b.serviceNetwork}`);
    expect(pids['kube-controller-manager']?.command).toEqual(
      expect.arrayContaining([
        `--cluster-cidr=${b.podNetwork}`,
        `--service-cluster-ip-range=${b.serviceNetwork}`,
      ]),
    );

    for (const side of sides) {
      const network = side.cluster.network as ClusterNetwork;
      const node = await side.api.get<{ spec: { podCIDR: string } }>('/api/v1/nodes/lastcall-node');
      expect(inRange(node.spec.podCIDR.split('/')[0] as string, network.podNetwork), side.name).toBe(true);
      const kubernetes = await side.api.get<{ spec: { clusterIP: string } }>(
        '/api/v1/namespaces/default/services/kubernetes',
      );
      expect(kubernetes.spec.clusterIP, side.name).toBe(network.kubernetesServiceIP);
    }
  });

  it('routes the same ClusterIP offset and port to each cluster own pod, through its own proxy', async () => {
    // A Service in the shared cluster gets any ClusterIP; the other cluster's gets the same
    // offset in its own range, so only the ranges' second octet tells them apart.
    const created: { side: Side; clusterIP: string; pod: string }[] = [];
    let offset: number | undefined;
    for (const side of sides) {
      const network = side.cluster.network as ClusterNetwork;
      const pod = `web-${side.name}`;
      await side.api.request('POST', `/api/v1/namespaces/${ns}/pods`, { body: webPod(pod) });
      const base = parseCidr(network.serviceNetwork).network;
      const svc = await side.api.request<{ spec: { clusterIP: string } }>(
        'POST',
        `/api/v1/namespaces/${ns}/services`,
        {
          body: {
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: 'web' },
            spec: {
              selector: { app: 'web' },
              ports: [{ name: 'http', port: 80, targetPort: 'http' }],
              ...(offset === undefined ? {} : { clusterIP: numberToIp(base + offset) }),
            },
          },
        },
      );
      offset ??= ipToNumber(svc.spec.clusterIP) - base;
      expect(inRange(svc.spec.clusterIP, network.serviceNetwork)).toBe(true);
      created.push({ side, clusterIP: svc.spec.clusterIP, pod });
    }
    const [first, second] = created as [(typeof created)[0], (typeof created)[0]];
    expect(ipToNumber(second.clusterIP) - ipToNumber(first.clusterIP)).toBe(
      parseCidr((second.side.cluster.network as ClusterNetwork).serviceNetwork).network -
        parseCidr((first.side.cluster.network as ClusterNetwork).serviceNetwork).network,
    );

    for (const { side, pod } of created) {
      await podReady(side.api, ns, pod, 60_000);
    }
    for (const { side, clusterIP, pod } of created) {
      const twin = loopbackTwin(clusterIP);
      // The proxy's watch delivers the Service and the EndpointSlice asynchronously.
      const body = await waitFor(
        `${side.name}: ${clusterIP}:80 answered on ${twin}:80`,
        async () => {
          const r = await httpGetText(`http://${twin}:80/`);
          return 'body' in r && r.status === 200 ? r.body : undefined;
        },
        { intervalMs: 200 },
      );
      expect(body, `${side.name} via ${twin}`).toBe(pod);
    }
  }, 120_000);

  it("serves each cluster's default/kubernetes on its own twin, with the recorded IP in the certificate", async () => {
    for (const side of sides) {
      const network = side.cluster.network as ClusterNetwork;
      const pki = pkiLayout(join(side.cluster.stateDir, 'pki'));
      const [ca, cert, key] = await Promise.all(
        [pki.caCert, pki.clients.admin.cert, pki.clients.admin.key].map((f) => readFile(f, 'utf8')),
      );
      // Only this cluster's API server has a certificate from this cluster's CA; the name
      // checked is the ClusterIP recorded in the API, as an in-cluster client would check it.
      const result = await waitFor(
        `${side.name}: default/kubernetes on ${loopbackTwin(network.kubernetesServiceIP)}:443`,
        async () => {
          const r = await getVersion(loopbackTwin(network.kubernetesServiceIP), network.kubernetesServiceIP, {
            ca: ca as string,
            cert: cert as string,
            key: key as string,
          });
          return 'status' in r ? r : undefined;
        },
        { intervalMs: 200 },
      );
      expect(result.status, side.name).toBe(200);
      expect(JSON.parse(result.body)).toHaveProperty('gitVersion');
    }
  }, 60_000);
});

function inRange(ip: string, cidr: string): boolean {
  const { network, prefix } = parseCidr(cidr);
  return ipToNumber(ip) - network >= 0 && ipToNumber(ip) - network < 2 ** (32 - prefix);
}

function webPod(name: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { app: 'web' } },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [namedHttpContainer('busybox', '/')],
    },
  };
}

function getVersion(
  host: string,
  expectedName: string,
  tls: { ca: string; cert: string; key: string },
): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(
      {
        host,
        port: 443,
        path: '/version',
        ...tls,
        timeout: 3_000,
        checkServerIdentity: (_host, peer) => checkServerIdentity(expectedName, peer),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => resolve({ error: error.message }));
    req.end();
  });
}
