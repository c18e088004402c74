// Every failure to apply shows, against the real API server: an owned object the API server
// refuses (here a Deployment whose container requests more CPU than its limit, which the CRD
// cannot see but the Deployment's validation refuses) makes the CounterService Degraded/ApplyFailed
// with the API server's own message and a Warning event, visible in `kubectl get csvc` and
// `kubectl describe csvc`; it is retried with back-off and cleared once the spec is fixed.
import { beforeAll, describe, expect, test } from 'vitest';
import { ensureTools } from '../../cluster/tools.ts';
import { kubectl } from '../../experiment/kube.ts';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes } from '../../kube/resources.ts';
import {
  condition,
  counterService,
  counterServices,
  create,
  eventsFor,
  get,
  mergePatch,
} from './operator-harness.ts';
import { useOperatorTestbed } from './operator-testbed.ts';

const testbed = useOperatorTestbed({ namespacePrefix: 'op-apply-failure' });
let binDir: string;

beforeAll(async () => {
  binDir = await ensureTools();
});

const k = (...args: string[]) =>
  kubectl({ kubeconfig: testbed.kubeconfig, binDir }, ['--namespace', testbed.namespace, ...args]);

describe('a refused apply', () => {
  test("shows as Degraded/ApplyFailed with the API server's message and a Warning event, and clears when fixed", async () => {
    const name = 'greedy';
    await create(
      testbed.client,
      counterServices,
      counterService(name, testbed.namespace, {
        replicas: 0,
        resources: { requests: { cpu: '2', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } },
      }),
    );
    const degraded = await waitFor(
      'Degraded with reason ApplyFailed',
      async () => {
        const live = await get(testbed.client, counterServices, testbed.namespace, name);
        return condition(live, 'Degraded')?.reason === 'ApplyFailed' ? live : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const message = condition(degraded, 'Degraded')?.message ?? '';
    expect(condition(degraded, 'Degraded')?.status).toBe('True');
    expect(message).toMatch(/^Deployment greedy was refused by the API server: 422 Invalid: /);
    // The API server's own words, naming the field.
    expect(message).toContain('must be less than or equal to cpu limit');
    expect((degraded.status as { phase?: string }).phase).toBe('Degraded');
    const warning = await waitFor('an ApplyFailed Warning event', async () =>
      (await eventsFor(testbed.client, testbed.namespace, name)).find((e) => e.reason === 'ApplyFailed'),
    );
    expect(warning).toMatchObject({ type: 'Warning', message });
    // The objects that were not refused are applied all the same.
    expect(await get(testbed.client, coreTypes.service, testbed.namespace, name)).toBeDefined();
    expect(await get(testbed.client, coreTypes.deployment, testbed.namespace, name)).toBeUndefined();

    // What a user sees.
    const row = (await k('get', 'csvc', name, '--no-headers')).trim().split(/\s+/);
    expect(row[0]).toBe(name);
    expect(row).toContain('Degraded');
    const described = await k('describe', 'csvc', name);
    expect(described).toMatch(/Reason:\s+ApplyFailed/);
    expect(described).toContain('must be less than or equal to cpu limit');
    expect(described).toMatch(/Warning\s+ApplyFailed/);

    // Fixed: the retry (or the spec change) applies the Deployment and the condition clears.
    await mergePatch(testbed.client, counterServices, testbed.namespace, name, {
      spec: { resources: { limits: { cpu: '2' } } },
    });
    await waitFor(
      'the Deployment applied and Degraded cleared',
      async () => {
        const live = await get(testbed.client, counterServices, testbed.namespace, name);
        const deployment = await get(testbed.client, coreTypes.deployment, testbed.namespace, name);
        return deployment && condition(live, 'Degraded')?.status === 'False' ? live : undefined;
      },
      { timeoutMs: 60_000 },
    );
  });
});
