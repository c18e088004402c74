// The local cluster's Redis is durable by default (cluster/images.json, docs/workload.md#durability):
// an append-only file in the image volume /data, which a pod that mounts nothing gets from the
// process kubelet and keeps across container restarts. What Redis answered survives a SIGKILL.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loopbackTwin } from '../../cluster/addresses.ts';
import { waitFor } from '../../kube/poll.ts';
import {
  createNamespace,
  deleteNamespace,
  isReady,
  type PodJson,
  runsProcessKubelet,
  testApi,
  uniqueName,
} from './kubelet/testing.ts';

const api = await testApi(inject('kubeconfig'));
const ns = uniqueName('lc-redis');
// The container's pid comes from the process kubelet's container ID (lastcall://<pid>).
const local = await runsProcessKubelet(api);

describe.runIf(local)('the local cluster Redis', () => {
  beforeAll(async () => {
    await createNamespace(api, ns);
  });
  afterAll(async () => {
    await deleteNamespace(api, ns);
  });

  async function readyPod(restartCount: number): Promise<PodJson & { ip: string; pid: number }> {
    return waitFor(
      `redis pod ready after ${restartCount} restarts`,
      async () => {
        const pod = await api.get<PodJson>(`/api/v1/namespaces/${ns}/pods/redis`);
        const status = pod.status?.containerStatuses?.[0] as
          | (NonNullable<NonNullable<PodJson['status']>['containerStatuses']>[number] & {
              containerID?: string;
            })
          | undefined;
        const id = /^lastcall:\/\/(\d+)$/.exec(status?.containerID ?? '');
        const ip = pod.status?.podIP;
        if (!isReady(pod) || status?.restartCount !== restartCount || !id || !ip) return undefined;
        return { ...pod, ip, pid: Number(id[1]) };
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  }

  async function connect(ip: string): Promise<Redis> {
    const client = new Redis({
      host: loopbackTwin(ip),
      port: 6379,
      lazyConnect: true,
      maxRetriesPerRequest: 1,
    });
    client.on('error', () => {});
    await client.connect();
    return client;
  }

  it('runs with an append-only file in /data and keeps what it answered across a SIGKILL', async () => {
    await api.request('POST', `/api/v1/namespaces/${ns}/pods`, {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'redis' },
        spec: {
          terminationGracePeriodSeconds: 1,
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
    });
    const first = await readyPod(0);
    const client = await connect(first.ip);
    try {
      const settings = Object.fromEntries(
        await Promise.all(
          ['appendonly', 'appendfsync', 'maxmemory-policy', 'dir', 'save'].map(async (name) => {
            const [, value] = (await client.config('GET', name)) as [string, string];
            return [name, value] as const;
          }),
        ),
      );
      expect(settings).toEqual({
        appendonly: 'yes',
        appendfsync: 'everysec',
        'maxmemory-policy': 'noeviction',
        dir: '/data',
        save: '',
      });
      expect(Number((await client.config('GET', 'maxmemory'))[1])).toBe(64 * 1024 * 1024);
      expect(await client.incrby('counter', 41)).toBe(41);
    } finally {
      client.disconnect();
    }

    // No goodbye: the answer above is all the workload would have had.
    process.kill(first.pid, 'SIGKILL');
    const second = await readyPod(1);
    expect(second.pid).not.toBe(first.pid);
    const again = await connect(second.ip);
    try {
      // Redis answers LOADING while it replays the file: wait until it answers at all.
      await waitFor('redis answering after the restart', async () => (await again.ping()) === 'PONG', {
        timeoutMs: 10_000,
        intervalMs: 100,
      });
      expect(await again.get('counter')).toBe('41');
    } finally {
      again.disconnect();
    }
  });
});
