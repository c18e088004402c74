import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { KubeClient } from '../../kube/client.ts';
import { EventRecorder } from '../../kube/events.ts';
import { FakeApiServer, json, status } from '../support/fake-api-server.ts';

let fake: FakeApiServer;
let client: KubeClient;
const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', uid: 'u-1' } };
const writes = () => fake.requests.map((r) => `${r.method} ${r.path}`);
const bodies = () => fake.requests.map((r) => JSON.parse(r.body) as Record<string, unknown>);

beforeAll(async () => {
  fake = await FakeApiServer.start();
  client = await KubeClient.connect(fake.credentials());
});
beforeEach(() => {
  fake.requests.length = 0;
  fake.handler = (req, res) => json(res, req.method === 'POST' ? 201 : 200, {});
});
afterAll(async () => {
  await client.close();
  await fake.close();
});

function recorder(): EventRecorder {
  return new EventRecorder({
    client,
    log: pino({ level: 'silent' }),
    component: 'kubelet',
    instance: 'node-1',
    host: 'node-1',
  });
}

describe('EventRecorder', () => {
  test('creates an Event naming the object, the field, the reporter and the time', async () => {
    await recorder().record(pod, 'Normal', 'Started', 'Started container main', {
      fieldPath: 'spec.containers{main}',
    });
    expect(writes()).toEqual(['POST /api/v1/namespaces/ns/events']);
    const [event] = bodies();
    expect(event).toMatchObject({
      involvedObject: {
        kind: 'Pod',
        name: 'p',
        namespace: 'ns',
        uid: 'u-1',
        fieldPath: 'spec.containers{main}',
      },
      type: 'Normal',
      reason: 'Started',
      message: 'Started container main',
      count: 1,
      source: { component: 'kubelet', host: 'node-1' },
      reportingComponent: 'kubelet',
      reportingInstance: 'node-1',
    });
    expect((event?.metadata as { name?: string } | undefined)?.name).toMatch(/^p\.[0-9a-f]+$/);
  });

  test('a repeat bumps the count of the same Event, even when the caller did not wait for the first', async () => {
    const events = recorder();
    void events.record(pod, 'Warning', 'BackOff', 'Back-off restarting failed container');
    void events.record(pod, 'Warning', 'BackOff', 'Back-off restarting failed container');
    await events.flush();
    expect(writes()).toEqual([
      'POST /api/v1/namespaces/ns/events',
      expect.stringMatching(/^PATCH \/api\/v1\/namespaces\/ns\/events\/p\./),
    ]);
    const [created, bumped] = bodies();
    expect(
      fake.requests[1]?.path.endsWith((created?.metadata as { name?: string } | undefined)?.name ?? '?'),
    ).toBe(true);
    expect(fake.requests[1]?.headers['content-type']).toBe('application/merge-patch+json');
    expect(bumped?.count).toBe(2);
  });

  test('another reason, type, message or field is another Event', async () => {
    const events = recorder();
    await events.record(pod, 'Normal', 'Killing', 'Stopping container main');
    await events.record(pod, 'Normal', 'Killing', 'Stopping container side');
    await events.record(pod, 'Warning', 'Killing', 'Stopping container main');
    await events.record(pod, 'Normal', 'Killing', 'Stopping container main', {
      fieldPath: 'spec.containers{main}',
    });
    expect(writes().every((w) => w.startsWith('POST'))).toBe(true);
    expect(writes()).toHaveLength(4);
  });

  test('an Event that expired meanwhile (404 on the bump) is created again', async () => {
    const events = recorder();
    await events.record(pod, 'Normal', 'Pulled', 'image present');
    fake.handler = (req, res) =>
      req.method === 'PATCH' ? status(res, 404, 'NotFound', 'events not found') : json(res, 201, {});
    await events.record(pod, 'Normal', 'Pulled', 'image present');
    expect(writes().map((w) => w.split(' ')[0])).toEqual(['POST', 'PATCH', 'POST']);
    expect(bodies()[2]?.count).toBe(1);
  });

  test('a failure to write is logged, never thrown', async () => {
    fake.handler = (_req, res) => status(res, 403, 'Forbidden', 'events is forbidden');
    await expect(recorder().record(pod, 'Normal', 'Scheduled', 'assigned')).resolves.toBeUndefined();
  });
});
