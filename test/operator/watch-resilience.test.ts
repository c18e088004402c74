// Watches that end or break lose nothing and repeat nothing. The operator talks to the real API
// server through a loopback TCP proxy that the test can cut, as a network failure would: every
// open connection reset, new ones refused for a while. The server also ends each watch after a
// short --watch-timeout, so reconnects happen all the time.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import { connectKube } from '../../kube/connect.ts';
import { waitFor } from '../../kube/poll.ts';
import { type Change, Reflector } from '../../kube/reflector.ts';
import { coreTypes, type KubeObject, type ResourceType, resourcePath } from '../../kube/resources.ts';
import {
  counterService,
  counterServices,
  create,
  get,
  mergePatch,
  OperatorProcess,
} from './operator-harness.ts';
import { useOperatorTestbed } from './operator-testbed.ts';

/** A TCP proxy to the API server that can fail like a network does. */
class CuttableProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #refusing = false;
  port = 0;

  constructor(target: { host: string; port: number }) {
    this.#server = createServer((downstream) => {
      if (this.#refusing) {
        downstream.resetAndDestroy();
        return;
      }
      const upstream = connect(target.port, target.host);
      for (const socket of [downstream, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      downstream.pipe(upstream).pipe(downstream);
      downstream.on('close', () => upstream.destroy());
      upstream.on('close', () => downstream.destroy());
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
  }

  /** Resets every open connection and refuses new ones until restore(). */
  cut(): void {
    this.#refusing = true;
    for (const socket of this.#sockets) socket.resetAndDestroy();
  }

  restore(): void {
    this.#refusing = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

let proxy: CuttableProxy;
let proxiedKubeconfig: string;
// Started by the one test that needs it, through the proxy.
let operator: OperatorProcess | undefined;
const testbed = useOperatorTestbed({
  namespacePrefix: 'op-watch',
  operator: false,
  prepare: async ({ kubeconfig }) => {
    const config = parse(readFileSync(kubeconfig, 'utf8')) as {
      clusters: Array<{ cluster: { server: string } }>;
    };
    const server = new URL(config.clusters[0]?.cluster.server ?? '');
    proxy = new CuttableProxy({ host: server.hostname, port: Number(server.port) });
    await proxy.listen();
    for (const entry of config.clusters) entry.cluster.server = `https://${server.hostname}:${proxy.port}`;
    proxiedKubeconfig = join(mkdtempSync(join(tmpdir(), 'lastcall-watch-')), 'kubeconfig');
    writeFileSync(proxiedKubeconfig, stringify(config));
  },
  cleanUp: async () => {
    await operator?.stop();
    await proxy?.close();
  },
});

const configMaps: ResourceType = {
  group: '',
  version: 'v1',
  plural: 'configmaps',
  kind: 'ConfigMap',
  namespaced: true,
};

/**
 * A reflector over the test namespace's ConfigMaps that talks through the cuttable proxy, with
 * the restart reasons and the changes ("<type> <name>") it reports.
 */
async function proxiedReflector(selection: { labelSelector: string; watchTimeoutSeconds?: number }) {
  const proxied = await connectKube({ kubeconfig: proxiedKubeconfig, userAgent: 'lastcall-watch-tests' });
  const restarts: string[] = [];
  const reflector = new Reflector<KubeObject>({
    client: proxied,
    type: configMaps,
    namespace: testbed.namespace,
    ...selection,
    log: pino({ level: 'silent' }),
    backoff: { baseMs: 100, maxMs: 500, jitter: 0.2 },
    onRestart: (reason) => restarts.push(reason),
  });
  const changes: string[] = [];
  reflector.onChange((change: Change<KubeObject>) =>
    changes.push(`${change.type} ${change.object.metadata.name}`),
  );
  return { proxied, reflector, restarts, changes };
}

describe('watch resilience', () => {
  test('the reflector sees every change made while its connection was down, once, and nothing else', async () => {
    const { proxied, reflector, restarts, changes } = await proxiedReflector({
      labelSelector: 'test=reflector',
      watchTimeoutSeconds: 1,
    });
    const configMap = (name: string, value: string) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: testbed.namespace, labels: { test: 'reflector' } },
      data: { value },
    });
    const path = resourcePath(configMaps, { namespace: testbed.namespace });
    try {
      await testbed.client.request('POST', path, { body: configMap('a', '1') });
      await testbed.client.request('POST', path, { body: configMap('b', '1') });
      reflector.start();
      await reflector.waitForSync();
      await waitFor('a and b added', () => changes.length === 2);
      expect(changes.sort()).toEqual(['added a', 'added b']);
      changes.length = 0;

      // Several server-side watch timeouts: reconnects from the last version deliver nothing new.
      await waitFor('three reconnects', () => restarts.filter((r) => r === 'reconnect').length >= 3);
      expect(changes).toEqual([]);

      proxy.cut();
      await testbed.client.request('PATCH', `${path}/a`, {
        body: { data: { value: '2' } },
        contentType: 'application/merge-patch+json',
      });
      await testbed.client.request('DELETE', `${path}/b`);
      await testbed.client.request('POST', path, { body: configMap('c', '1') });
      await waitFor('the reflector noticed the cut', () => restarts.includes('error'));
      proxy.restore();

      await waitFor('three changes after the cut', () => changes.length >= 3);
      // And nothing more over further reconnects.
      const reconnects = restarts.length;
      await waitFor('two more reconnects', () => restarts.length >= reconnects + 2);
      expect(changes.sort()).toEqual(['added c', 'deleted b', 'updated a']);
      expect(reflector.store.keys().sort()).toEqual([`${testbed.namespace}/a`, `${testbed.namespace}/c`]);
      expect(reflector.store.get(`${testbed.namespace}/a`)?.data).toEqual({ value: '2' });
    } finally {
      proxy.restore();
      await reflector.stop();
      await proxied.close();
    }
  });

  test('a watch that comes back after its version expired (410 Gone) relists and still delivers every change once', async () => {
    const { proxied, reflector, restarts, changes } = await proxiedReflector({
      labelSelector: 'test=expiry',
    });
    const path = resourcePath(configMaps, { namespace: testbed.namespace });
    const configMap = (name: string, labels: Record<string, string>) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: testbed.namespace, labels },
      data: { value: '1' },
    });
    try {
      await testbed.client.request('POST', path, { body: configMap('kept', { test: 'expiry' }) });
      await testbed.client.request('POST', path, { body: configMap('doomed', { test: 'expiry' }) });
      reflector.start();
      await reflector.waitForSync();
      await waitFor('kept and doomed added', () => changes.length === 2);
      changes.length = 0;

      proxy.cut();
      await waitFor('the reflector noticed the cut', () => restarts.includes('error'));
      const staleVersion = reflector.resourceVersion;
      await testbed.client.request('DELETE', `${path}/doomed`);
      // Churn another config map until the API server's watch cache no longer reaches back to the
      // version the reflector holds: a watch from it is now answered 410 Gone. (The cache keeps
      // events younger than about 75 s whatever their number, so this takes over a minute; a
      // modest rate is enough.)
      const expired = async () => {
        let gone = false;
        await testbed.client
          .watch(path, { resourceVersion: staleVersion, timeoutSeconds: 1 }, (event) => {
            if (event.type === 'ERROR' && (event.object as { code?: number }).code === 410) gone = true;
          })
          .catch(() => undefined);
        return gone;
      };
      const churn = configMap('churn', { test: 'churn' });
      await testbed.client.request('POST', path, { body: churn });
      for (let round = 0; !(await expired()); round++) {
        if (round > 200) throw new Error(`the watch cache still reaches back to ${staleVersion}`);
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            testbed.client.request('PATCH', `${path}/churn`, {
              body: { data: { value: `${round}-${i}` } },
              contentType: 'application/merge-patch+json',
            }),
          ),
        );
      }
      proxy.restore();
      await waitFor('a relist', () => restarts.includes('relist'));
      await waitFor('the deletion delivered', () => changes.includes('deleted doomed'));
      expect(changes).toEqual(['deleted doomed']);
      expect(reflector.store.keys()).toEqual([`${testbed.namespace}/kept`]);
    } finally {
      proxy.restore();
      await reflector.stop();
      await proxied.close();
    }
  });

  test('the operator reconciles what changed while its watches were cut or expiring, without a restart', async () => {
    operator = await OperatorProcess.watching(
      proxiedKubeconfig,
      testbed.namespace,
      `lastcall-watch-${process.pid}`,
      ['--watch-timeout', '2'],
    );
    await create(testbed.client, counterServices, counterService('one', testbed.namespace));
    const replicas = async (name: string) =>
      (
        (await get(testbed.client, coreTypes.deployment, testbed.namespace, name))?.spec as
          | { replicas?: number }
          | undefined
      )?.replicas;
    await waitFor('one reconciled', async () => (await replicas('one')) === 1);

    // Across server-side watch expiries.
    await waitFor(
      'watches reopened after their timeout',
      async () =>
        ((await operator?.metric('lastcall_watch_restarts_total', { reason: 'reconnect' })) ?? 0) >= 7,
    );
    await mergePatch(testbed.client, counterServices, testbed.namespace, 'one', { spec: { replicas: 3 } });
    await waitFor('one scaled to 3', async () => (await replicas('one')) === 3);

    // Across a network cut: changes made while the operator could not see them.
    proxy.cut();
    await mergePatch(testbed.client, counterServices, testbed.namespace, 'one', { spec: { replicas: 2 } });
    await create(testbed.client, counterServices, counterService('two', testbed.namespace));
    // /metrics is served by the operator itself, not through the proxy.
    await waitFor(
      'the operator noticed the cut',
      async () => ((await operator?.metric('lastcall_watch_restarts_total', { reason: 'error' })) ?? 0) > 0,
    );
    proxy.restore();
    // Reflectors that failed during the cut retry after a back-off (up to 30 s in principle).
    await waitFor('one scaled to 2', async () => (await replicas('one')) === 2, { timeoutMs: 60_000 });
    await waitFor('two reconciled', async () => (await replicas('two')) === 1, { timeoutMs: 60_000 });
    expect(operator.child.exitCode).toBeNull();
  });
});
