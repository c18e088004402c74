import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { contentTypes, KubeClient, type WatchEvent } from '../../kube/client.ts';
import { ApiError, isConflict, isGone, isNotFound, RequestTimeoutError } from '../../kube/errors.ts';
import { waitFor } from '../../kube/poll.ts';
import { FakeApiServer, json, status } from '../support/fake-api-server.ts';

let fake: FakeApiServer;
let client: KubeClient;
const observed: Array<{ verb: string; resource: string; code: number }> = [];

beforeAll(async () => {
  fake = await FakeApiServer.start();
  client = await KubeClient.connect(fake.credentials(), { userAgent: 'lastcall-unit', timeoutMs: 5_000 });
  client.observe(({ verb, resource, code }) => observed.push({ verb, resource, code }));
});
afterEach(() => {
  fake.requests.length = 0;
  observed.length = 0;
  fake.endAll();
});
afterAll(async () => {
  await client.close();
  await fake.close();
});

describe('requests', () => {
  test('GET sends credentials, user agent and query, and parses the JSON answer', async () => {
    fake.handler = (_req, res) => json(res, 200, { items: [{ metadata: { name: 'a' } }] });
    const list = await client.get<{ items: unknown[] }>('/api/v1/namespaces/ns/pods', {
      query: { labelSelector: 'app=x', limit: 5, continue: undefined },
    });
    expect(list.items).toHaveLength(1);
    const [seen] = fake.requests;
    expect(seen?.headers.authorization).toBe('Bearer test-token');
    expect(seen?.headers['user-agent']).toBe('lastcall-unit');
    expect(seen?.query.get('labelSelector')).toBe('app=x');
    expect(seen?.query.get('limit')).toBe('5');
    expect(seen?.query.has('continue')).toBe(false);
    expect(observed).toEqual([{ verb: 'list', resource: 'pods', code: 200 }]);
  });

  test.each([
    ['merge patch', contentTypes.mergePatch, 'patch'],
    ['strategic merge patch', contentTypes.strategicMergePatch, 'patch'],
    ['server-side apply', contentTypes.apply, 'apply'],
  ])('PATCH as %s says so in its content type', async (_name, contentType, verb) => {
    fake.handler = (req, res) => json(res, 200, { echoed: JSON.parse(req.body) });
    const answer = await client.request<{ echoed: unknown }>(
      'PATCH',
      '/apis/apps/v1/namespaces/ns/deployments/d/status',
      { body: { spec: { replicas: 2 } }, contentType },
    );
    expect(answer.echoed).toEqual({ spec: { replicas: 2 } });
    expect(fake.requests[0]?.headers['content-type']).toBe(contentType);
    expect(observed[0]).toEqual({ verb, resource: 'deployments/status', code: 200 });
  });

  test('a body without a content type is sent as JSON', async () => {
    fake.handler = (_req, res) => json(res, 201, {});
    await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name: 'n' } } });
    expect(fake.requests[0]?.headers['content-type']).toBe('application/json');
    expect(observed[0]?.verb).toBe('create');
  });

  test('a text answer (pod logs) comes back as text', async () => {
    fake.handler = (_req, res) =>
      res.writeHead(200, { 'content-type': 'text/plain' }).end('line 1\nline 2\n');
    expect(await client.get<string>('/api/v1/namespaces/ns/pods/p/log')).toBe('line 1\nline 2\n');
  });

  test('a failure is an ApiError carrying the code and the Status reason and message', async () => {
    fake.handler = (req, res) =>
      req.method === 'GET'
        ? status(res, 404, 'NotFound', 'pods "p" not found')
        : status(res, 409, 'AlreadyExists', 'pods "p" already exists');
    const missing = await client.get('/api/v1/namespaces/ns/pods/p').catch((err: unknown) => err);
    expect(missing).toBeInstanceOf(ApiError);
    expect(isNotFound(missing)).toBe(true);
    expect((missing as ApiError).reason).toBe('NotFound');
    expect((missing as ApiError).message).toBe(
      'GET /api/v1/namespaces/ns/pods/p: 404 NotFound pods "p" not found',
    );
    const taken = await client
      .request('POST', '/api/v1/namespaces/ns/pods', { body: {} })
      .catch((err: unknown) => err);
    expect(isConflict(taken)).toBe(true);
    expect(isNotFound(taken)).toBe(false);
    expect(observed.map((o) => o.code)).toEqual([404, 409]);
  });

  test('a failure that is not a Status keeps the text it got', async () => {
    fake.handler = (_req, res) => res.writeHead(502, { 'content-type': 'text/html' }).end('bad gateway');
    await expect(client.get('/version')).rejects.toThrow('GET /version: 502 bad gateway');
  });
});

describe('write fence', () => {
  test('a fenced client sends no write while the fence refuses, but still reads', async () => {
    const fenced = await KubeClient.connect(fake.credentials(), { timeoutMs: 5_000 });
    let refuse = false;
    fenced.fenceWrites(() => (refuse ? new Error('past the renew deadline') : undefined));
    fake.handler = (_req, res) => json(res, 200, {});
    try {
      await fenced.request('PUT', '/api/v1/namespaces/ns/configmaps/a', { body: {} });
      expect(fake.requests).toHaveLength(1);
      refuse = true;
      for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
        await expect(
          fenced.request(method, '/api/v1/namespaces/ns/configmaps/a', { body: {} }),
        ).rejects.toThrow('past the renew deadline');
      }
      expect(fake.requests).toHaveLength(1);
      await fenced.get('/api/v1/namespaces/ns/configmaps/a');
      expect(fake.requests.map((r) => r.method)).toEqual(['PUT', 'GET']);
    } finally {
      await fenced.close();
    }
  });
});

describe('deadlines and cancellation', () => {
  test('a request with no answer fails at its timeoutMs with RequestTimeoutError, and the client goes on', async () => {
    fake.handler = (req, res) => {
      if (req.path === '/stalls') return; // never answers
      json(res, 200, { ok: true });
    };
    const err = await client.get('/stalls', { timeoutMs: 100 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestTimeoutError);
    expect((err as Error).message).toBe('GET /stalls: no complete answer within 100 ms (request timeout)');
    expect(await client.get('/fine')).toEqual({ ok: true });
  });

  test('the deadline covers the body too: a server that stops half-way is timed out', async () => {
    fake.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"items": [');
    };
    await expect(client.get('/half', { timeoutMs: 150 })).rejects.toBeInstanceOf(RequestTimeoutError);
  });

  test("the client's default deadline applies when a request names none", async () => {
    const impatient = await KubeClient.connect(fake.credentials(), { timeoutMs: 100 });
    fake.handler = () => undefined;
    await expect(impatient.get('/stalls')).rejects.toBeInstanceOf(RequestTimeoutError);
    await impatient.close();
  });

  test('an aborted signal ends the request with its reason, not as a timeout', async () => {
    fake.handler = () => undefined;
    const abort = new AbortController();
    const pending = client.get('/stalls', { signal: abort.signal });
    await waitFor('the request to reach the server', () => fake.requests.length === 1, { intervalMs: 5 });
    abort.abort(new Error('shutting down'));
    const err = await pending.catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(RequestTimeoutError);
    expect(String(err)).toMatch(/abort|shutting down/i);
  });

  test('a timeoutMs that is not a positive number is refused, naming the field and value', async () => {
    await expect(KubeClient.connect(fake.credentials(), { timeoutMs: 0 })).rejects.toThrow(
      'timeoutMs: 0 is not allowed; it must be a positive number of ms',
    );
  });
});

describe('watch', () => {
  test('delivers each line as an event, also when lines are split across chunks', async () => {
    fake.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}}\n{"type":"MOD');
      setImmediate(() => {
        res.write('IFIED","object":{"metadata":{"name":"a","resourceVersion":"2"}}}\n\n');
        res.end('{"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"3"}}}\n');
      });
    };
    const events: Array<WatchEvent<{ metadata: { resourceVersion: string } }>> = [];
    await client.watch('/api/v1/pods', { resourceVersion: '0' }, (e) => events.push(e as (typeof events)[0]));
    expect(events.map((e) => `${e.type} ${e.object.metadata.resourceVersion}`)).toEqual([
      'ADDED 1',
      'MODIFIED 2',
      'DELETED 3',
    ]);
    expect(fake.requests[0]?.query.get('watch')).toBe('true');
    expect(fake.requests[0]?.query.get('resourceVersion')).toBe('0');
    expect(observed).toEqual([{ verb: 'watch', resource: 'pods', code: 200 }]);
  });

  test('a watch the server refuses with 410 rejects with an ApiError that isGone', async () => {
    fake.handler = (_req, res) => status(res, 410, 'Expired', 'too old resource version: 1 (5)');
    const err = await client.watch('/api/v1/pods', { resourceVersion: '1' }, () => undefined).catch((e) => e);
    expect(isGone(err)).toBe(true);
  });

  test('an aborted watch resolves: the caller asked for the end', async () => {
    fake.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"}}}\n');
    };
    const abort = new AbortController();
    const events: string[] = [];
    const watching = client.watch('/api/v1/pods', {}, (e) => events.push(e.type), { signal: abort.signal });
    await waitFor('the bookmark', () => events.length === 1, { intervalMs: 5 });
    abort.abort();
    await expect(watching).resolves.toBeUndefined();
  });

  test('a silent watch is dropped after idleTimeoutMs (a half-open connection never errors)', async () => {
    fake.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).flushHeaders();
    await expect(client.watch('/api/v1/pods', {}, () => undefined, { idleTimeoutMs: 100 })).rejects.toThrow(
      /no data for 100 ms/,
    );
  });
});
