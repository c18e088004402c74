// Secret safety against the real API server (issue 10, point 7): the workload sends the password of
// spec.redis.passwordSecretRef to spec.redis.address, so a CounterService may name only a Service
// of its own namespace unless a DrainPolicy allows more. replicas: 0 throughout: no pod ever dials
// the addresses named here (the machine may only dial loopback).
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import type { KubeClient } from '../../kube/client.ts';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes, type KubeObject } from '../../kube/resources.ts';
import {
  adminClient,
  condition,
  counterService,
  counterServices,
  create,
  drainPolicies,
  eventsFor,
  get,
  installCrds,
  OperatorProcess,
  remove,
  testNamespace,
} from './operator-harness.ts';

const kubeconfig = inject('kubeconfig');
let client: KubeClient;
let namespace: { name: string; remove: () => Promise<void> };
let operator: OperatorProcess;
const policyName = `redis-allow-${process.pid}`;

beforeAll(async () => {
  client = await adminClient(kubeconfig);
  await installCrds(client);
  namespace = await testNamespace(client, 'op-redis');
  operator = await OperatorProcess.watching(kubeconfig, namespace.name, `lastcall-redis-${process.pid}`);
});

afterAll(async () => {
  await operator?.stop();
  await remove(client, drainPolicies, undefined, policyName).catch(() => undefined);
  await namespace?.remove();
  await client?.close();
});

const spec = (address: string) => ({
  replicas: 0,
  redis: { address, key: 'c', passwordSecretRef: { name: 'redis-auth', key: 'password' } },
});

describe('spec.redis.address', () => {
  test('a Service of its own namespace is applied', async () => {
    await create(
      client,
      counterServices,
      counterService('own', namespace.name, spec(`redis.${namespace.name}.svc:6379`)),
    );
    await waitFor('own Deployment', () => get(client, coreTypes.deployment, namespace.name, 'own'));
  });

  test('any other address is refused (condition, event, nothing applied) until a DrainPolicy allows it', async () => {
    await create(
      client,
      counterServices,
      counterService('elsewhere', namespace.name, spec('127.0.0.1:6379')),
    );
    const degraded = await waitFor('RedisAddressNotAllowed', async () => {
      const c = condition(
        await get<KubeObject>(client, counterServices, namespace.name, 'elsewhere'),
        'Degraded',
      );
      return c?.reason === 'RedisAddressNotAllowed' ? c : undefined;
    });
    expect(degraded.status).toBe('True');
    expect(degraded.message).toContain('spec.redis.address=127.0.0.1:6379 is not allowed');
    expect(degraded.message).toContain(`a Service of namespace ${namespace.name}`);
    const event = await waitFor('the Warning event', async () =>
      (await eventsFor(client, namespace.name, 'elsewhere')).find(
        (e) => e.reason === 'RedisAddressNotAllowed',
      ),
    );
    expect(event.type).toBe('Warning');
    expect(event.message).toBe(degraded.message);
    const cs = await get<KubeObject>(client, counterServices, namespace.name, 'elsewhere');
    expect((cs?.status as { phase?: string } | undefined)?.phase).toBe('Degraded');
    expect(await get(client, coreTypes.deployment, namespace.name, 'elsewhere')).toBeUndefined();
    expect(await get(client, coreTypes.service, namespace.name, 'elsewhere')).toBeUndefined();

    // A cluster admin allows it for this namespace only: the CounterService converges.
    await create(client, drainPolicies, {
      apiVersion: 'lastcall.dev/v1alpha1',
      kind: 'DrainPolicy',
      metadata: { name: policyName },
      spec: {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace.name } },
        allowedRedisAddresses: ['127.0.0.1:6379'],
      },
    });
    await waitFor('elsewhere Deployment', () =>
      get(client, coreTypes.deployment, namespace.name, 'elsewhere'),
    );
    await waitFor('Degraded cleared', async () => {
      const c = condition(
        await get<KubeObject>(client, counterServices, namespace.name, 'elsewhere'),
        'Degraded',
      );
      return c?.status === 'False';
    });
  });
});
