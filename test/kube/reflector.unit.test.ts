import type { ServerResponse } from 'node:http';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { KubeClient } from '../../kube/client.ts';
import { waitFor } from '../../kube/poll.ts';
import { type Change, Reflector } from '../../kube/reflector.ts';
import { coreTypes, type KubeObject } from '../../kube/resources.ts';
import { FakeApiServer, json, type SeenRequest, status } from '../support/fake-api-server.ts';

const cm = (name: string, resourceVersion: string): KubeObject => ({
  metadata: { name, namespace: 'ns', resourceVersion },
});
const line = (type: string, object: unknown) => `${JSON.stringify({ type, object })}\n`;

let fake: FakeApiServer;
let client: KubeClient;
let reflector: Reflector<KubeObject>;
let changes: string[];
let restarts: string[];

/** Lists and watches as scripted: `lists` answer the LISTs in turn, `watches` the WATCHes. */
function script(
  lists: Array<{ resourceVersion: string; items: KubeObject[] }>,
  watches: Array<(req: SeenRequest, res: ServerResponse) => void>,
) {
  let listed = 0;
  let watched = 0;
  fake.handler = (req, res) => {
    if (req.query.get('watch') === 'true') {
      const next = watches[watched++];
      if (next) next(req, res);
      // Out of script: a quiet, open watch until the test ends.
      else res.writeHead(200, { 'content-type': 'application/json' }).flushHeaders();
      return;
    }
    const list = lists[Math.min(listed++, lists.length - 1)];
    json(res, 200, { metadata: { resourceVersion: list?.resourceVersion }, items: list?.items ?? [] });
  };
}

/** The reflector's loop runs on 1-5 ms back-offs here: poll often, give up after 5 s. */
const until = (what: string, condition: () => boolean) =>
  waitFor(what, condition, { timeoutMs: 5_000, intervalMs: 5 });

function start(): void {
  reflector = new Reflector<KubeObject>({
    client,
    type: { ...coreTypes.configMap },
    namespace: 'ns',
    labelSelector: 'app=x',
    log: pino({ level: 'silent' }),
    backoff: { baseMs: 1, maxMs: 5, jitter: 0 },
    onRestart: (reason) => restarts.push(reason),
  });
  reflector.onChange((change: Change<KubeObject>) =>
    changes.push(`${change.type} ${change.object.metadata.name} ${change.object.metadata.resourceVersion}`),
  );
  reflector.start();
}

const watchRequests = () => fake.requests.filter((r) => r.query.get('watch') === 'true');

beforeEach(async () => {
  fake = await FakeApiServer.start();
  client = await KubeClient.connect(fake.credentials());
  changes = [];
  restarts = [];
});
afterEach(async () => {
  await reflector.stop();
  await client.close();
  await fake.close();
});

describe('Reflector', () => {
  test('lists, then watches from the list version; the store follows every event', async () => {
    script(
      [{ resourceVersion: '10', items: [cm('a', '5'), cm('b', '6')] }],
      [
        (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write(line('MODIFIED', cm('a', '11')));
          res.write(line('ADDED', cm('c', '12')));
          res.write(line('DELETED', cm('b', '13')));
        },
      ],
    );
    start();
    await reflector.waitForSync();
    await until('three watch events', () => changes.length === 5);
    expect(changes).toEqual(['added a 5', 'added b 6', 'updated a 11', 'added c 12', 'deleted b 13']);
    expect(reflector.store.keys().sort()).toEqual(['ns/a', 'ns/c']);
    const [list] = fake.requests;
    expect(list?.path).toBe('/api/v1/namespaces/ns/configmaps');
    expect(list?.query.get('labelSelector')).toBe('app=x');
    expect(watchRequests()[0]?.query.get('resourceVersion')).toBe('10');
    expect(watchRequests()[0]?.query.get('allowWatchBookmarks')).toBe('true');
  });

  test('a watch the server ends is reopened from the last version seen (bookmarks too), without a relist', async () => {
    script(
      [{ resourceVersion: '10', items: [cm('a', '5')] }],
      [
        (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write(line('MODIFIED', cm('a', '11')));
          res.end(line('BOOKMARK', { metadata: { resourceVersion: '20' } }));
        },
      ],
    );
    start();
    await until('the second watch', () => watchRequests().length === 2);
    expect(watchRequests()[1]?.query.get('resourceVersion')).toBe('20');
    expect(fake.requests.filter((r) => r.query.get('watch') !== 'true')).toHaveLength(1);
    expect(restarts).toEqual(['reconnect']);
    expect(changes).toEqual(['added a 5', 'updated a 11']);
  });

  test('410 Gone relists, and tells the handlers what changed meanwhile, deletions included', async () => {
    script(
      [
        { resourceVersion: '10', items: [cm('a', '5'), cm('b', '6')] },
        { resourceVersion: '30', items: [cm('a', '5'), cm('c', '25')] },
      ],
      [(_req, res) => status(res, 410, 'Expired', 'too old resource version: 10 (29)')],
    );
    start();
    await until('the watch after the relist', () => watchRequests().length === 2);
    expect(restarts).toEqual(['relist']);
    // a is unchanged (same resourceVersion): no event for it the second time.
    expect(changes).toEqual(['added a 5', 'added b 6', 'deleted b 6', 'added c 25']);
    expect(watchRequests()[1]?.query.get('resourceVersion')).toBe('30');
    // Items of a list carry no kind: the reflector fills it in from the type.
    expect(reflector.store.get('ns/a')?.kind).toBe('ConfigMap');
  });

  test('an ERROR event with 410 inside an open watch relists too', async () => {
    script(
      [
        { resourceVersion: '10', items: [] },
        { resourceVersion: '40', items: [cm('d', '35')] },
      ],
      [
        (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write(line('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' }));
        },
      ],
    );
    start();
    await until('d from the relist', () => changes.includes('added d 35'));
    expect(restarts).toEqual(['relist']);
  });

  test('other failures back off and retry from the same version', async () => {
    script(
      [{ resourceVersion: '10', items: [] }],
      [(_req, res) => status(res, 500, 'InternalError', 'etcd leader changed')],
    );
    start();
    await until('the retried watch', () => watchRequests().length === 2);
    expect(restarts).toEqual(['error']);
    expect(watchRequests()[1]?.query.get('resourceVersion')).toBe('10');
  });

  test('stop ends an open watch and does not count it as a reconnect', async () => {
    script([{ resourceVersion: '10', items: [] }], []);
    start();
    await until('the watch', () => watchRequests().length === 1);
    await reflector.stop();
    expect(restarts).toEqual([]);
  });
});
