// The process kubelet against the real control plane (test/support/cluster-setup.ts): node
// registration, Deployments, scaling, NodePort, the kubelet's termination order, Service names,
// in-cluster credentials. Pods are busybox pods running host commands (python3, sh).
import { rmdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loopbackTwin } from '../../cluster/addresses.ts';
import { contentTypes } from '../../kube/client.ts';
import { waitFor } from '../../kube/poll.ts';
import {
  createNamespace,
  createNodePortService,
  createService,
  deleteNamespace,
  httpGetText,
  isReady,
  kubeletLineAt,
  kubeletLogOf,
  namedHttpContainer,
  type PodJson,
  PodRecorder,
  podReady,
  runsProcessKubelet,
  sigtermTrapping,
  testApi,
  uniqueName,
} from './kubelet/testing.ts';

const api = await testApi(inject('kubeconfig'));
const ns = uniqueName('lc-kubelet');
const local = await runsProcessKubelet(api);

beforeAll(async () => {
  await createNamespace(api, ns);
});
afterAll(async () => {
  await deleteNamespace(api, ns);
  // Mount points the kubelet created on the host for this file's volumes (empty directories).
  for (const dir of ['/tmp/lc-mount-shared', '/tmp/lc-mount-settings']) {
    try {
      rmdirSync(dir);
    } catch {}
  }
});

interface List<T> {
  items: T[];
}

function webDeployment(name: string, replicas: number) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: 2,
          containers: [namedHttpContainer('busybox:1.36', '/ready')],
        },
      },
    },
  };
}

/** Waits until the pod `name` of this file's namespace reports `phase`. */
async function podInPhase(name: string, phase: string): Promise<void> {
  await waitFor(
    `${name} ${phase}`,
    async () =>
      (await api.get<PodJson>(`/api/v1/namespaces/${ns}/pods/${name}`)).status?.phase === phase
        ? true
        : undefined,
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

async function pods(selector: string): Promise<PodJson[]> {
  const list = await api.get<List<PodJson>>(
    `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(selector)}`,
  );
  return list.items;
}

describe.runIf(local)('process kubelet (local cluster)', () => {
  it('registers a Ready node with capacity, addresses and a lease renewed about every 10 s', async () => {
    const node = await api.get<{
      spec: { podCIDR?: string };
      status: {
        capacity: Record<string, string>;
        allocatable: Record<string, string>;
        addresses: { type: string; address: string }[];
        conditions: { type: string; status: string }[];
      };
    }>('/api/v1/nodes/lastcall-node');
    expect(node.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(Object.keys(node.status.capacity)).toEqual(expect.arrayContaining(['cpu', 'memory', 'pods']));
    expect(node.status.allocatable.pods).toBe('110');
    expect(node.status.addresses).toContainEqual({ type: 'InternalIP', address: '127.0.0.1' });
    expect(node.spec.podCIDR).toMatch(/^10\.\d+\.\d+\.0\/24$/); // from the cluster's own pod network
    const leasePath = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/lastcall-node';
    const first = await api.get<{ spec: { renewTime: string; leaseDurationSeconds: number } }>(leasePath);
    expect(first.spec.leaseDurationSeconds).toBe(40);
    const renewed = await waitFor(
      'the lease to be renewed',
      async () => {
        const l = await api.get<{ spec: { renewTime: string } }>(leasePath);
        return l.spec.renewTime !== first.spec.renewTime ? l : undefined;
      },
      // the lease's own duration: a node not renewed within it would be lost
      { timeoutMs: 40_000, intervalMs: 200 },
    );
    // Renewed every 10 s by the kubelet's own timer, which never fires early (a late tick, a failed
    // renewal or a loaded machine only lengthen the gap), and always before the 40 s lease runs out.
    const gap = new Date(renewed.spec.renewTime).getTime() - new Date(first.spec.renewTime).getTime();
    expect(gap).toBeGreaterThan(9_900);
    expect(gap).toBeLessThan(40_000);
  });

  it('runs a Deployment to Available with a ReplicaSet and EndpointSlices, scales it, and serves it on a NodePort', async () => {
    const name = 'web';
    await api.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, { body: webDeployment(name, 2) });
    const svc = await createNodePortService(api, ns, name);
    const started = Date.now();
    await waitFor(
      'Deployment web Available with 2 ready replicas',
      async () => {
        const d = await api.get<{
          status?: { readyReplicas?: number; conditions?: { type: string; status: string }[] };
        }>(`/apis/apps/v1/namespaces/${ns}/deployments/${name}`);
        const available = d.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True');
        return available && d.status?.readyReplicas === 2 ? d : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const availableMs = Date.now() - started;
    const rs = await api.get<List<{ status: { readyReplicas?: number } }>>(
      `/apis/apps/v1/namespaces/${ns}/replicasets?labelSelector=app%3D${name}`,
    );
    expect(rs.items).toHaveLength(1);
    expect(rs.items[0]?.status.readyReplicas).toBe(2);

    const running = await pods(`app=${name}`);
    const ips = running.map((p) => p.status?.podIP).sort();
    for (const ip of ips) expect(ip).toMatch(/^10\.\d+\.\d+\.\d+$/); // the cluster's pod network, never loopback
    expect(new Set(ips).size).toBe(2);
    const slices = await waitFor(
      'EndpointSlice with both pods ready',
      async () => {
        const l = await api.get<
          List<{ endpoints?: { addresses: string[]; conditions: { ready: boolean } }[] }>
        >(
          `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D${name}`,
        );
        const ready = l.items.flatMap((s) => s.endpoints ?? []).filter((e) => e.conditions.ready);
        return ready.length === 2 ? ready : undefined;
      },
      { intervalMs: 200 },
    );
    expect(slices.flatMap((e) => e.addresses).sort()).toEqual(ips);

    // The NodePort on 127.0.0.1 and the ClusterIP's loopback twin both reach the pods, round robin.
    const nodePort = svc.spec.ports[0]?.nodePort as number;
    const names = new Set<string>();
    await waitFor(
      'NodePort answers from both pods',
      async () => {
        const r = await httpGetText(`http://127.0.0.1:${nodePort}/`);
        if ('body' in r && r.status === 200) names.add(r.body);
        return names.size === 2 ? true : undefined;
      },
      { intervalMs: 200 },
    );
    expect([...names].sort()).toEqual(running.map((p) => p.metadata.name).sort());
    const twin = loopbackTwin(svc.spec.clusterIP);
    const viaClusterIP = await httpGetText(`http://${twin}:80/`);
    expect(viaClusterIP).toMatchObject({ status: 200 });

    // Scale up to 3, then down to 1: the extra pods terminate and leave the API.
    const scale = (replicas: number) =>
      api.request('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/${name}/scale`, {
        body: { spec: { replicas } },
        contentType: contentTypes.mergePatch,
      });
    await scale(3);
    await waitFor(
      '3 ready pods',
      async () => ((await pods(`app=${name}`)).filter(isReady).length === 3 ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    await scale(1);
    await waitFor('1 pod left', async () => ((await pods(`app=${name}`)).length === 1 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    const left = await pods(`app=${name}`);
    expect(isReady(left[0])).toBe(true);
    console.log(`deployment available after ${availableMs} ms`);
  });

  it('terminates in the kubelet order: preStop first, SIGTERM after it, SIGKILL at the deadline (137 recorded)', async () => {
    const recorder = new PodRecorder(api, ns);
    const pod = (name: string, handler: string) => {
      const { container, volume } = sigtermTrapping(handler);
      return {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name },
        spec: {
          terminationGracePeriodSeconds: 6,
          volumes: [volume],
          containers: [{ ...container, lifecycle: { preStop: { sleep: { seconds: 2 } } } }],
        },
      };
    };
    // Records the SIGTERM arrival (ms since epoch) in the termination message, then ignores it / exits.
    const stamp = `echo "TERM $(date +%s%3N)" >> /dev/termination-log`;
    await api.request('POST', `/api/v1/namespaces/${ns}/pods`, { body: pod('stubborn', stamp) });
    await api.request('POST', `/api/v1/namespaces/${ns}/pods`, { body: pod('graceful', `${stamp}; exit 0`) });
    for (const name of ['stubborn', 'graceful']) {
      await podReady(api, ns, name, 60_000);
    }
    const deletedAt = Date.now();
    await api.request('DELETE', `/api/v1/namespaces/${ns}/pods/stubborn`);
    await api.request('DELETE', `/api/v1/namespaces/${ns}/pods/graceful`);
    // The recorder's own DELETED events: the watch may deliver them after a GET already says 404.
    const goneAt = {
      stubborn: await recorder.gone('stubborn', 60_000),
      graceful: await recorder.gone('graceful', 60_000),
    };
    await recorder.stop();

    const final = (name: 'stubborn' | 'graceful') => {
      const events = recorder.of(name);
      const last = [...events].reverse().find((e) => e.pod.status?.containerStatuses?.[0]?.state.terminated);
      return { pod: last?.pod, goneAt: goneAt[name] };
    };
    const stubborn = final('stubborn');
    const t = stubborn.pod?.status?.containerStatuses?.[0]?.state.terminated as {
      exitCode: number;
      reason: string;
      message: string;
    };
    expect(t.exitCode).toBe(137);
    expect(t.reason).toBe('Error');
    expect(stubborn.pod?.status?.phase).toBe('Failed');
    const termAt = Number(/TERM (\d+)/.exec(t.message)?.[1]);
    console.log(
      `stubborn: SIGTERM +${termAt - deletedAt} ms, gone +${stubborn.goneAt - deletedAt} ms after the DELETE`,
    );
    // Seen from the test (whose observations can only come late): SIGTERM not before the 2 s
    // preStop sleep, SIGKILL not before the 6 s grace period.
    expect(termAt - deletedAt).toBeGreaterThan(1_900);
    expect(stubborn.goneAt - deletedAt).toBeGreaterThan(5_900);
    // The kubelet's own record, in order: the hook ran its 2 s, SIGTERM got the rest of the grace
    // (6 - 2 = 4 s), and SIGKILL came when that window was over, not before. How much later it
    // came is up to the machine (a timer firing late): bounded only generously.
    const kubelet = await kubeletLogOf(inject('kubeconfig'), ns, 'stubborn');
    const killing = kubeletLineAt(kubelet, 'killing container');
    const hookDone = kubeletLineAt(kubelet, 'preStop hook done');
    const stopSignal = kubeletLineAt(kubelet, 'sending stop signal');
    const sigkill = kubeletLineAt(kubelet, 'grace period over, SIGKILL');
    expect(killing).toMatchObject({ reason: 'deletion', grace: 6 });
    expect(Number(hookDone.hookElapsedMs)).toBeGreaterThanOrEqual(1_990);
    expect(stopSignal).toMatchObject({ signal: 'SIGTERM', windowSeconds: 4 });
    expect(killing.time).toBeLessThanOrEqual(hookDone.time);
    expect(hookDone.time).toBeLessThanOrEqual(stopSignal.time);
    expect(sigkill.time - stopSignal.time).toBeGreaterThanOrEqual(3_990);
    expect(sigkill.time - stopSignal.time).toBeLessThan(4_000 + 5_000);
    // The container saw SIGTERM between the two (same machine clock; its stamp has ms resolution).
    expect(termAt).toBeGreaterThanOrEqual(stopSignal.time - 1);
    expect(termAt).toBeLessThanOrEqual(sigkill.time);

    const graceful = final('graceful');
    const g = graceful.pod?.status?.containerStatuses?.[0]?.state.terminated as {
      exitCode: number;
      reason: string;
      message: string;
    };
    expect(g.exitCode).toBe(0);
    expect(g.reason).toBe('Completed');
    expect(graceful.pod?.status?.phase).toBe('Succeeded');
    const gTerm = Number(/TERM (\d+)/.exec(g.message)?.[1]);
    expect(gTerm - deletedAt).toBeGreaterThan(1_900);
    // It exited on SIGTERM: the kubelet sent the stop signal and never needed SIGKILL.
    const gKubelet = await kubeletLogOf(inject('kubeconfig'), ns, 'graceful');
    expect(kubeletLineAt(gKubelet, 'sending stop signal')).toMatchObject({ windowSeconds: 4 });
    expect(gKubelet.map((l) => l.msg)).not.toContain('grace period over, SIGKILL');

    // kubectl describe reads like a real node: Killing, then nothing about a failed hook.
    const events = await api.get<List<{ reason: string; involvedObject: { name: string } }>>(
      `/api/v1/namespaces/${ns}/events?fieldSelector=involvedObject.name%3Dstubborn`,
    );
    expect(events.items.map((e) => e.reason)).toEqual(
      expect.arrayContaining(['Pulled', 'Created', 'Started', 'Killing']),
    );
    expect(events.items.map((e) => e.reason)).not.toContain('FailedPreStopHook');
  });

  it('abandons a preStop hook that overruns the grace period, still leaves 2 s after SIGTERM, and honours a shorter later delete', async () => {
    const recorder = new PodRecorder(api, ns);
    const stamp = `echo "TERM $(date +%s%3N)" >> /dev/termination-log`;
    const pod = (name: string, grace: number, preStopSeconds?: number) => {
      // Ready once the trap is set: `shortened` is deleted right after it is Ready.
      const { container, volume } = sigtermTrapping(stamp);
      return {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name },
        spec: {
          terminationGracePeriodSeconds: grace,
          volumes: [volume],
          containers: [
            {
              ...container,
              // sleep hooks must be shorter than the grace (validation); an exec hook may overrun.
              ...(preStopSeconds
                ? { lifecycle: { preStop: { exec: { command: ['sleep', String(preStopSeconds)] } } } }
                : {}),
            },
          ],
        },
      };
    };
    await api.request('POST', `/api/v1/namespaces/${ns}/pods`, { body: pod('overrun', 3, 10) });
    await api.request('POST', `/api/v1/namespaces/${ns}/pods`, { body: pod('shortened', 30) });
    for (const name of ['overrun', 'shortened']) {
      await podReady(api, ns, name, 60_000);
    }
    const deletedAt = Date.now();
    await api.request('DELETE', `/api/v1/namespaces/${ns}/pods/overrun`);
    await api.request('DELETE', `/api/v1/namespaces/${ns}/pods/shortened`);
    // The second DELETE must find the kubelet already killing the pod with the 30 s grace: wait for
    // its Killing event (recorded when the kill starts) rather than a fixed pause.
    await waitFor(
      'the Killing event of shortened',
      async () => {
        const l = await api.get<List<{ reason: string }>>(
          `/api/v1/namespaces/${ns}/events?fieldSelector=involvedObject.name%3Dshortened`,
        );
        return l.items.some((e) => e.reason === 'Killing') ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const shortenedAt = Date.now();
    await api.request('DELETE', `/api/v1/namespaces/${ns}/pods/shortened`, {
      body: {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        gracePeriodSeconds: 1,
      },
    });
    // The recorder's own DELETED events: the watch may deliver them after a GET already says 404.
    const gone = {
      overrun: await recorder.gone('overrun', 60_000),
      shortened: await recorder.gone('shortened', 60_000),
    };
    await recorder.stop();
    const message = (name: string) =>
      [...recorder.of(name)].reverse().find((e) => e.pod.status?.containerStatuses?.[0]?.state.terminated)
        ?.pod.status?.containerStatuses?.[0]?.state.terminated as
        | { exitCode: number; message: string }
        | undefined;

    // grace 3 s, hook abandoned at 3 s, SIGTERM then, SIGKILL 2 s later (the kubelet's minimum window).
    const overrun = message('overrun');
    expect(overrun?.exitCode).toBe(137);
    const termAt = Number(/TERM (\d+)/.exec(overrun?.message ?? '')?.[1]);
    console.log(
      `overrun: SIGTERM +${termAt - deletedAt} ms, gone +${gone.overrun - deletedAt} ms after the DELETE; ` +
        `shortened: gone +${gone.shortened - shortenedAt} ms after the second DELETE`,
    );
    // Seen from the test (observations only come late): SIGTERM not before the 3 s grace, SIGKILL
    // not before 2 s after that.
    expect(termAt - deletedAt).toBeGreaterThan(2_900);
    expect(gone.overrun - deletedAt).toBeGreaterThan(4_900);
    // The kubelet's own record: the hook was abandoned at the 3 s grace (not run to its 10 s end),
    // then SIGTERM with the 2 s minimum window, and SIGKILL when that was over, not before.
    const kubelet = await kubeletLogOf(inject('kubeconfig'), ns, 'overrun');
    const hookDone = kubeletLineAt(kubelet, 'preStop hook done');
    const stopSignal = kubeletLineAt(kubelet, 'sending stop signal');
    const sigkill = kubeletLineAt(kubelet, 'grace period over, SIGKILL');
    expect(kubeletLineAt(kubelet, 'killing container')).toMatchObject({ reason: 'deletion', grace: 3 });
    expect(kubeletLineAt(kubelet, 'PreStop hook not completed in grace period').time).toBeLessThanOrEqual(
      stopSignal.time,
    );
    expect(Number(hookDone.hookElapsedMs)).toBeGreaterThanOrEqual(2_990);
    expect(Number(hookDone.hookElapsedMs)).toBeLessThan(10_000);
    expect(stopSignal).toMatchObject({ signal: 'SIGTERM', windowSeconds: 2 });
    expect(sigkill.time - stopSignal.time).toBeGreaterThanOrEqual(1_990);
    expect(sigkill.time - stopSignal.time).toBeLessThan(2_000 + 5_000);
    expect(termAt).toBeGreaterThanOrEqual(stopSignal.time - 1);
    expect(termAt).toBeLessThanOrEqual(sigkill.time);
    const events = await api.get<List<{ reason: string }>>(
      `/api/v1/namespaces/${ns}/events?fieldSelector=involvedObject.name%3Doverrun`,
    );
    expect(events.items.map((e) => e.reason)).toContain('FailedPreStopHook');

    // grace 30 s, then a second DELETE with grace 1: killed at least 2 s after it (the minimum
    // window), and before the 30 s deadline of the first DELETE (a timer never fires early, so a
    // SIGKILL before it can only come from the shortened one).
    expect(message('shortened')?.exitCode).toBe(137);
    expect(gone.shortened - shortenedAt).toBeGreaterThan(1_900);
    const shortened = await kubeletLogOf(inject('kubeconfig'), ns, 'shortened');
    const shortenedStop = kubeletLineAt(shortened, 'sending stop signal');
    expect(shortenedStop).toMatchObject({ windowSeconds: 30 });
    const shortenedKill = kubeletLineAt(shortened, 'grace period over, SIGKILL');
    expect(shortenedKill.time).toBeGreaterThanOrEqual(shortenedAt + 1_990);
    expect(shortenedKill.time - shortenedStop.time).toBeLessThan(30_000);
  });

  it('reaches a Service by name (redis:6379 and its FQDN), with hosts rewritten when the Service appears later, and real in-cluster credentials', async () => {
    // The client starts before the Service exists: its /etc/hosts must be rewritten in place.
    const client = `
import os, socket, ssl, time, urllib.request, urllib.error
def ping(host):
    with socket.create_connection((host, 6379), timeout=2) as s:
        s.sendall(b'PING\\r\\n')
        return s.recv(64).decode().strip()
deadline = time.time() + 60
while True:
    try:
        short = ping('redis')
        fqdn = ping('redis.${ns}.svc.cluster.local')
        break
    except OSError as e:
        if time.time() > deadline: raise
        time.sleep(0.2)
sa = '/var/run/secrets/kubernetes.io/serviceaccount'
token = open(sa + '/token').read()
ctx = ssl.create_default_context(cafile=sa + '/ca.crt')
url = 'https://%s:%s/api/v1/namespaces/%s/pods' % (os.environ['KUBERNETES_SERVICE_HOST'], os.environ['KUBERNETES_SERVICE_PORT'], open(sa + '/namespace').read())
try:
    urllib.request.urlopen(urllib.request.Request(url, headers={'Authorization': 'Bearer ' + token}), context=ctx)
    api = 200
except urllib.error.HTTPError as e:
    api = e.code
open('/dev/termination-log', 'w').write('%s %s %s' % (short, fqdn, api))
`;
    await api.request('POST', `/api/v1/namespaces/${ns}/pods`, {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'client' },
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'client', image: 'busybox', command: ['python3', '-c', client] }],
        },
      },
    });
    await api.request('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, {
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'redis' },
        spec: {
          selector: { matchLabels: { app: 'redis' } },
          template: {
            metadata: { labels: { app: 'redis' } },
            spec: {
              containers: [
                {
                  name: 'redis',
                  image: 'redis:7',
                  ports: [{ name: 'redis', containerPort: 6379 }],
                  readinessProbe: { tcpSocket: { port: 'redis' }, periodSeconds: 1 },
                },
              ],
            },
          },
        },
      },
    });
    await podInPhase('client', 'Running');
    await createService(api, ns, 'redis', {
      selector: { app: 'redis' },
      ports: [{ port: 6379, targetPort: 'redis' }],
    });
    const done = await waitFor(
      'client Succeeded',
      async () => {
        const p = await api.get<PodJson>(`/api/v1/namespaces/${ns}/pods/client`);
        if (p.status?.phase === 'Failed')
          throw new Error(`client failed: ${JSON.stringify(p.status.containerStatuses)}`);
        return p.status?.phase === 'Succeeded' ? p : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const message = done.status?.containerStatuses?.[0]?.state.terminated?.message;
    // PONG twice through the proxy; the API server knows the ServiceAccount (403 Forbidden, not 401).
    expect(message).toBe('+PONG +PONG 403');
  });

  it('serves container logs to the API server (kubectl logs), current and previous runs', async () => {
    await api.request('POST', `/api/v1/namespaces/${ns}/pods`, {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'logger' },
        spec: {
          restartPolicy: 'OnFailure',
          containers: [
            {
              name: 'main',
              image: 'busybox',
              // First run fails after logging; the second run (restartCount 1) succeeds.
              command: [
                'sh',
                '-c',
                'if [ -e "$HOME/ran" ]; then echo second run; exit 0; fi; touch "$HOME/ran"; echo first run; exit 1',
              ],
            },
          ],
        },
      },
    });
    await podInPhase('logger', 'Succeeded');
    const current = await api.request<string>(
      'GET',
      `/api/v1/namespaces/${ns}/pods/logger/log?container=main`,
    );
    const previous = await api.request<string>(
      'GET',
      `/api/v1/namespaces/${ns}/pods/logger/log?container=main&previous=true`,
    );
    expect(current).toBe('second run\n');
    expect(previous).toBe('first run\n');
  });

  it('runs containers as the securityContext user, with a read-only root, emptyDir shared between containers and a ConfigMap volume', async () => {
    await api.request('POST', `/api/v1/namespaces/${ns}/configmaps`, {
      body: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'settings' },
        data: { greeting: 'hello' },
      },
    });
    await api.request('POST', `/api/v1/namespaces/${ns}/pods`, {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'secure' },
        spec: {
          restartPolicy: 'Never',
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 },
          volumes: [
            { name: 'shared', emptyDir: {} },
            { name: 'settings', configMap: { name: 'settings' } },
          ],
          containers: [
            {
              name: 'writer',
              image: 'busybox',
              command: ['sh', '-c', 'echo from-writer > /tmp/lc-mount-shared/note; sleep 30'],
              volumeMounts: [{ name: 'shared', mountPath: '/tmp/lc-mount-shared' }],
            },
            {
              name: 'reader',
              image: 'busybox',
              securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
              command: [
                'sh',
                '-c',
                [
                  'while [ ! -e /tmp/lc-mount-shared/note ]; do sleep 0.1; done',
                  'if touch /var/tmp/lc-test-ro 2>/dev/null; then ro=writable; else ro=read-only; fi',
                  'echo "$(id -u):$(id -g):$(id -G | tr " " ,) $(cat /tmp/lc-mount-shared/note) $(cat /tmp/lc-mount-settings/greeting) $ro" > /dev/termination-log',
                ].join('; '),
              ],
              volumeMounts: [
                { name: 'shared', mountPath: '/tmp/lc-mount-shared' },
                { name: 'settings', mountPath: '/tmp/lc-mount-settings', readOnly: true },
              ],
            },
          ],
        },
      },
    });
    const reader = await waitFor(
      'reader terminated',
      async () => {
        const p = await api.get<PodJson>(`/api/v1/namespaces/${ns}/pods/secure`);
        const s = p.status?.containerStatuses?.find((c) => c.name === 'reader');
        return s?.state.terminated ? s.state.terminated : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(reader.exitCode).toBe(0);
    expect(reader.message).toBe('1000:1000:1000,2000 from-writer hello read-only\n');

    // runAsNonRoot with a root image user is refused before the start, as on a real node.
    await api.request('POST', `/api/v1/namespaces/${ns}/pods`, {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'rootless' },
        spec: {
          securityContext: { runAsNonRoot: true },
          containers: [{ name: 'main', image: 'busybox', command: ['sleep', '30'] }],
        },
      },
    });
    const waiting = await waitFor(
      'CreateContainerConfigError',
      async () => {
        const p = await api.get<PodJson>(`/api/v1/namespaces/${ns}/pods/rootless`);
        const w = p.status?.containerStatuses?.[0]?.state.waiting;
        return w?.reason === 'CreateContainerConfigError' ? w : undefined;
      },
      { intervalMs: 200 },
    );
    expect(waiting.message).toMatch(/container has runAsNonRoot and image will run as root/);
  });

  it('reports an image missing from images.json as ErrImagePull / ImagePullBackOff', async () => {
    await api.request('POST', `/api/v1/namespaces/${ns}/pods`, {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'unknown-image' },
        spec: { containers: [{ name: 'main', image: 'example.com/nothing:1' }] },
      },
    });
    const waiting = await waitFor(
      'a pull error',
      async () => {
        const p = await api.get<PodJson>(`/api/v1/namespaces/${ns}/pods/unknown-image`);
        const w = p.status?.containerStatuses?.[0]?.state.waiting as
          | { reason: string; message: string }
          | undefined;
        return w && ['ErrImagePull', 'ImagePullBackOff'].includes(w.reason) ? w : undefined;
      },
      { intervalMs: 200 },
    );
    expect(waiting.message).toMatch(/"example.com\/nothing:1".*not in images.json/);
  });

  it('restarts a container whose liveness probe fails, with restartCount and back-off', async () => {
    await api.request('POST', `/api/v1/namespaces/${ns}/pods`, {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'unhealthy' },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'main',
              image: 'busybox',
              command: ['sh', '-c', 'while true; do sleep 0.2; done'],
              livenessProbe: { exec: { command: ['false'] }, periodSeconds: 1, failureThreshold: 2 },
            },
          ],
        },
      },
    });
    const restarted = await waitFor(
      'restartCount >= 2',
      async () => {
        const p = await api.get<PodJson>(`/api/v1/namespaces/${ns}/pods/unhealthy`);
        const s = p.status?.containerStatuses?.[0];
        return s && s.restartCount >= 2 ? s : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(restarted.lastState?.terminated?.exitCode).toBe(143);
    // Events are written by their own queue, apart from the status: wait for them, not read once.
    const events = await waitFor(
      'Unhealthy, Killing and BackOff events',
      async () => {
        const l = await api.get<List<{ reason: string; message: string }>>(
          `/api/v1/namespaces/${ns}/events?fieldSelector=involvedObject.name%3Dunhealthy`,
        );
        const reasons = new Set(l.items.map((e) => e.reason));
        return ['Unhealthy', 'Killing', 'BackOff'].every((r) => reasons.has(r)) ? l : undefined;
      },
      { intervalMs: 200 },
    );
    expect(events.items.find((e) => e.reason === 'Killing')?.message).toMatch(
      /failed liveness probe, will be restarted/,
    );
  });
});
