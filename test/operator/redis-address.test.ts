// Secret safety against the real API server (issue 10, point 7): the workload sends the password of
// spec.redis.passwordSecretRef to spec.redis.address, so a CounterService may name only a Service
// of its own namespace unless a DrainPolicy allows more. replicas: 0 throughout: no pod ever dials
// the addresses named here (the machine may only dial loopback).
import { describe, expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes, type KubeObject } from '../../kube/resources.ts';
import {
  condition,
  counterService,
  counterServices,
  create,
  drainPolicies,
  eventsFor,
  get,
  remove,
} from './operator-harness.ts';
import { useOperatorTestbed } from './operator-testbed.ts';

const policyName = `redis-allow-${process.pid}`;
const testbed = useOperatorTestbed({
  namespacePrefix: 'op-redis',
  cleanUp: async ({ client }) => {
    await remove(client, drainPolicies, undefined, policyName).catch(() => undefined);
  },
});

const spec = (address: string) => ({
  replicas: 0,
  redis: { address, key: 'c', passwordSecretRef: { name: 'redis-auth', key: 'password' } },
});

describe('spec.redis.address', () => {
  test('a Service of its own namespace is applied', async () => {
    await create(
      testbed.client,
      counterServices,
      counterService('own', testbed.namespace, spec(`redis.${testbed.namespace}.svc:6379`)),
    );
    await waitFor('own Deployment', () =>
      get(testbed.client, coreTypes.deployment, testbed.namespace, 'own'),
    );
  });

  test('any other address is refused (condition, event, nothing applied) until a DrainPolicy allows it', async () => {
    await create(
      testbed.client,
      counterServices,
      counterService('elsewhere', testbed.namespace, spec('127.0.0.1:6379')),
    );
    const degraded = await waitFor('RedisAddressNotAllowed', async () => {
      const c = condition(
        await get<KubeObject>(testbed.client, counterServices, testbed.namespace, 'elsewhere'),
        'Degraded',
      );
      return c?.reason === 'RedisAddressNotAllowed' ? c : undefined;
    });
    expect(degraded.status).toBe('True');
    expect(degraded.message).toContain('spec.redis.address=127.0.0.1:6379 is not allowed');
    expect(degraded.message).toContain(`a Service of namespace ${testbed.namespace}`);
    const event = await waitFor('the Warning event', async () =>
      (await eventsFor(testbed.client, testbed.namespace, 'elsewhere')).find(
        (e) => e.reason === 'RedisAddressNotAllowed',
      ),
    );
    expect(event.type).toBe('Warning');
    expect(event.message).toBe(degraded.message);
    const cs = await get<KubeObject>(testbed.client, counterServices, testbed.namespace, 'elsewhere');
    expect((cs?.status as { phase?: string } | undefined)?.phase).toBe('Degraded');
    expect(await get(testbed.client, coreTypes.deployment, testbed.namespace, 'elsewhere')).toBeUndefined();
    expect(await get(testbed.client, coreTypes.service, testbed.namespace, 'elsewhere')).toBeUndefined();

    // A cluster admin allows it for this namespace only: the CounterService converges.
    await create(testbed.client, drainPolicies, {
      apiVersion: 'lastcall.dev/v1alpha1',
      kind: 'DrainPolicy',
      metadata: { name: policyName },
      spec: {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': testbed.namespace } },
        allowedRedisAddresses: ['127.0.0.1:6379'],
      },
    });
    await waitFor('elsewhere Deployment', () =>
      get(testbed.client, coreTypes.deployment, testbed.namespace, 'elsewhere'),
    );
    await waitFor('Degraded cleared', async () => {
      const c = condition(
        await get<KubeObject>(testbed.client, counterServices, testbed.namespace, 'elsewhere'),
        'Degraded',
      );
      return c?.status === 'False';
    });
  });
});
