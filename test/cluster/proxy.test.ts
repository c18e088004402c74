// The service proxy against the real control plane: endpoints follow readiness through the
// EndpointSlice watch; deleted Services close their listeners.
import { rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loopbackTwin } from '../../cluster/addresses.ts';
import { status } from '../../cluster/launcher.ts';
import { waitFor } from '../../kube/poll.ts';
import { tempDirsOfFile } from '../support/temp-dirs.ts';
import {
  createNamespace,
  createNodePortService,
  createService,
  deleteNamespace,
  httpGetText,
  isReady,
  namedHttpContainer,
  type PodJson,
  runsProcessKubelet,
  testApi,
  uniqueName,
} from './kubelet/testing.ts';

const kubeconfig = inject('kubeconfig');
const api = await testApi(kubeconfig);

const ns = uniqueName('lc-proxy');
const local = await runsProcessKubelet(api);
const flags = tempDirsOfFile()('lc-proxy-');

beforeAll(async () => {
  await createNamespace(api, ns);
});
afterAll(async () => {
  await deleteNamespace(api, ns);
});

function backend(name: string) {
  const readyFile = join(flags, name);
  writeFileSync(readyFile, '');
  const web = namedHttpContainer('busybox', '/ready');
  return {
    readyFile,
    pod: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: { app: 'rot' } },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            ...web,
            env: [{ name: 'READY_FILE', value: readyFile }],
            // One failed probe takes the pod out of rotation: the test times the propagation.
            readinessProbe: { ...web.readinessProbe, failureThreshold: 1 },
          },
        ],
      },
    },
  };
}

/** The proxy's health endpoint, from the launcher's status of the cluster the kubeconfig belongs to. */
async function proxyEndpoint(): Promise<string> {
  const cluster = await status({ stateDir: dirname(kubeconfig) });
  const proxy = cluster.components.find((c) => c.name === 'proxy');
  if (!proxy?.endpoint) throw new Error(`no proxy recorded in ${cluster.stateDir}`);
  return proxy.endpoint;
}

/** Creates a NodePort Service `name` over the pods labelled app=`name`; returns the node port. */
async function nodePortService(name: string): Promise<number> {
  const svc = await createNodePortService(api, ns, name);
  return svc.spec.ports[0]?.nodePort as number;
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe.runIf(local)('service proxy (local cluster)', () => {
  it('takes a pod whose readiness probe fails out of rotation, and brings it back', async () => {
    const a = backend('rot-a');
    const b = backend('rot-b');
    for (const x of [a, b]) await api.request('POST', `/api/v1/namespaces/${ns}/pods`, { body: x.pod });
    const port = await nodePortService('rot');
    const answers = async (n: number) => {
      const seen: string[] = [];
      for (let i = 0; i < n; i++) {
        const r = await httpGetText(`http://127.0.0.1:${port}/`);
        seen.push('body' in r ? r.body : r.error);
      }
      return seen;
    };
    await waitFor(
      'both pods answer',
      async () => {
        const seen = new Set(await answers(4));
        return seen.has('rot-a') && seen.has('rot-b') ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );

    rmSync(a.readyFile);
    const notReadyAt = Date.now();
    await waitFor(
      'rot-a not Ready',
      async () =>
        !isReady(await api.get<PodJson>(`/api/v1/namespaces/${ns}/pods/rot-a`)) ? true : undefined,
      { intervalMs: 200 },
    );
    // Propagation is asynchronous (EndpointSlice controller, then the proxy's watch): wait for it,
    // then every new connection must go to rot-b.
    await waitFor(
      'only rot-b answers',
      async () => ((await answers(4)).every((x) => x === 'rot-b') ? true : undefined),
      { intervalMs: 200 },
    );
    const propagationMs = Date.now() - notReadyAt;
    expect(await answers(20)).toEqual(Array(20).fill('rot-b'));

    writeFileSync(a.readyFile, '');
    await waitFor(
      'rot-a back in rotation',
      async () => ((await answers(4)).includes('rot-a') ? true : undefined),
      { intervalMs: 200 },
    );
    console.log(`readiness failure -> out of rotation in ${propagationMs} ms`);
  });

  it('keeps routing to a serving, terminating endpoint while no ready one exists (kube-proxy fallback)', async () => {
    await api.request('POST', `/api/v1/namespaces/${ns}/pods`, {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'last', labels: { app: 'last' } },
        spec: {
          terminationGracePeriodSeconds: 30,
          containers: [
            {
              ...namedHttpContainer('busybox', '/'),
              // The server keeps serving during the preStop sleep: its endpoint is serving and terminating.
              // The sleep must outlast the whole check below (slice update, proxy watch, 5 requests),
              // which takes seconds on a loaded machine; after it SIGTERM ends the server.
              lifecycle: { preStop: { sleep: { seconds: 20 } } },
            },
          ],
        },
      },
    });
    const url = `http://127.0.0.1:${await nodePortService('last')}/`;
    await waitFor(
      'the pod answers',
      async () => {
        const r = await httpGetText(url);
        return 'status' in r && r.status === 200 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    await api.request('DELETE', `/api/v1/namespaces/${ns}/pods/last`);
    await waitFor(
      'the endpoint is terminating',
      async () => {
        const l = await api.get<{
          items: {
            endpoints?: { conditions: { ready?: boolean; serving?: boolean; terminating?: boolean } }[];
          }[];
        }>(
          `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dlast`,
        );
        const c = l.items.flatMap((x) => x.endpoints ?? [])[0]?.conditions;
        return c?.terminating && c.serving && !c.ready ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    // Wait until the proxy itself has seen the terminating endpoint (its debug view), then every
    // request must still succeed.
    const proxy = await proxyEndpoint();
    await waitFor(
      'the proxy sees the terminating endpoint',
      async () => {
        const r = await httpGetText(`${proxy}/debug/endpoints?service=${ns}/last`);
        if (!('body' in r)) return undefined;
        const eps = JSON.parse(r.body) as { conditions: { terminating?: boolean } }[];
        return eps[0]?.conditions.terminating ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const during: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await httpGetText(url);
      during.push('body' in r ? `${r.status} ${r.body}` : r.error);
    }
    expect(during).toEqual(Array(5).fill('200 last'));
    // Done: cut the long preStop short so the pod does not outlive the file by 20 s.
    await api.request('DELETE', `/api/v1/namespaces/${ns}/pods/last`, {
      body: {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        gracePeriodSeconds: 1,
      },
    });
  });

  it('relays a half-closed connection to the end (the client shuts down its side, the answer still arrives)', async () => {
    await api.request('POST', `/api/v1/namespaces/${ns}/pods`, {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'echo', labels: { app: 'echo' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'echo',
              image: 'busybox',
              // Reads until EOF, then answers: only works if the proxy forwards the FIN and keeps the way back open.
              command: [
                'python3',
                '-c',
                "import os,socket\ns=socket.create_server((os.environ['HOST'],9000))\nwhile True:\n c,_=s.accept()\n d=b''\n while True:\n  x=c.recv(4096)\n  if not x: break\n  d+=x\n c.sendall(b'got '+str(len(d)).encode())\n c.close()",
              ],
              ports: [{ name: 'echo', containerPort: 9000 }],
              readinessProbe: { tcpSocket: { port: 'echo' }, periodSeconds: 1 },
            },
          ],
        },
      },
    });
    const svc = await createService(api, ns, 'echo', {
      selector: { app: 'echo' },
      ports: [{ port: 9000, targetPort: 'echo' }],
    });
    const twin = loopbackTwin(svc.spec.clusterIP);
    const exchange = () =>
      new Promise<string>((resolve, reject) => {
        const s = net.connect({ host: twin, port: 9000, allowHalfOpen: true });
        let answer = '';
        s.on('data', (d) => {
          answer += d.toString();
        });
        s.on('end', () => resolve(answer));
        s.on('error', reject);
        s.on('connect', () => s.end('hello world'));
      });
    const answer = await waitFor(
      'an answer through the ClusterIP',
      async () => {
        const a = await exchange().catch(() => undefined);
        return a ? a : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(answer).toBe('got 11');
  });

  it('listens on the ClusterIP twin while the Service exists and closes the listener when it is deleted', async () => {
    const svc = await createService(api, ns, 'ephemeral', {
      selector: { app: 'nothing' },
      ports: [{ port: 7777 }],
    });
    const twin = loopbackTwin(svc.spec.clusterIP);
    await waitFor('listener open', async () => ((await connects(twin, 7777)) ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    await api.request('DELETE', `/api/v1/namespaces/${ns}/services/ephemeral`);
    await waitFor('listener closed', async () => (!(await connects(twin, 7777)) ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
  });
});
