// Every failure to apply shows, against the real API server: an owned object the API server
// refuses (here a Deployment whose container requests more CPU than its limit, which the CRD
// cannot see but the Deployment's validation refuses) makes the CounterService Degraded/ApplyFailed
// with the API server's own message and a Warning event, visible in `kubectl get csvc` and
// `kubectl describe csvc`; it is retried with back-off and cleared once the spec is fixed.
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { ensureTools } from '../../cluster/tools.ts';
import { kubectl } from '../../experiment/kube.ts';
import type { KubeClient } from '../../kube/client.ts';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes } from '../../kube/resources.ts';
import {
  adminClient,
  condition,
  counterService,
  counterServices,
  create,
  eventsFor,
  get,
  installCrds,
  mergePatch,
  OperatorProcess,
  testNamespace,
} from './operator-harness.ts';

const kubeconfig = inject('kubeconfig');
let client: KubeClient;
let namespace: { name: string; remove: () => Promise<void> };
let operator: OperatorProcess;
let binDir: string;
const leaseName = `lastcall-apply-failure-${process.pid}`;

beforeAll(async () => {
  client = await adminClient(kubeconfig);
  await installCrds(client);
  binDir = await ensureTools();
  namespace = await testNamespace(client, 'op-apply-failure');
  operator = await OperatorProcess.watching(kubeconfig, namespace.name, leaseName);
});

afterAll(async () => {
  await operator?.stop();
  await namespace?.remove();
  await client?.close();
});

const k = (...args: string[]) => kubectl({ kubeconfig, binDir }, ['--namespace', namespace.name, ...args]);

describe('a refused apply', () => {
  test("shows as Degraded/ApplyFailed with the API server's message and a Warning event, and clears when fixed", async () => {
    const name = 'greedy';
    await create(
      client,
      counterServices,
      counterService(name, namespace.name, {
        replicas: 0,
        resources: { requests: { cpu: '2', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } },
      }),
    );
    const degraded = await waitFor(
      'Degraded with reason ApplyFailed',
      async () => {
        const live = await get(client, counterServices, namespace.name, name);
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
      (await eventsFor(client, namespace.name, name)).find((e) => e.reason === 'ApplyFailed'),
    );
    expect(warning).toMatchObject({ type: 'Warning', message });
    // The objects that were not refused are applied all the same.
    expect(await get(client, coreTypes.service, namespace.name, name)).toBeDefined();
    expect(await get(client, coreTypes.deployment, namespace.name, name)).toBeUndefined();

    // What a user sees.
    const row = (await k('get', 'csvc', name, '--no-headers')).trim().split(/\s+/);
    expect(row[0]).toBe(name);
    expect(row).toContain('Degraded');
    const described = await k('describe', 'csvc', name);
    expect(described).toMatch(/Reason:\s+ApplyFailed/);
    expect(described).toContain('must be less than or equal to cpu limit');
    expect(described).toMatch(/Warning\s+ApplyFailed/);

    // Fixed: the retry (or the spec change) applies the Deployment and the condition clears.
    await mergePatch(client, counterServices, namespace.name, name, {
      spec: { resources: { limits: { cpu: '2' } } },
    });
    await waitFor(
      'the Deployment applied and Degraded cleared',
      async () => {
        const live = await get(client, counterServices, namespace.name, name);
        const deployment = await get(client, coreTypes.deployment, namespace.name, name);
        return deployment && condition(live, 'Degraded')?.status === 'False' ? live : undefined;
      },
      { timeoutMs: 60_000 },
    );
  });
});
