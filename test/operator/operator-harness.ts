// Shared pieces of the operator integration tests: a real API client, the CRDs, a namespace per
// test, and the operator as a real child process (the same `node operator/main.ts` a pod runs).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { repoRoot } from '../../cluster/tools.ts';
import { contentTypes, type KubeClient } from '../../kube/client.ts';
import { connectKube } from '../../kube/connect.ts';
import { isNotFound } from '../../kube/errors.ts';
import { deleteNamespace, ensureNamespace } from '../../kube/namespaces.ts';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes, type KubeObject, type ResourceType, resourcePath } from '../../kube/resources.ts';

// The operator's own resource types, under the names the tests use.
export {
  counterServiceType as counterServices,
  drainPolicyType as drainPolicies,
} from '../../operator/api/resources.ts';

export async function adminClient(kubeconfig: string): Promise<KubeClient> {
  return connectKube({ kubeconfig, userAgent: 'lastcall-operator-tests' });
}

/** Applies crds/*.yaml (server-side apply, idempotent) and waits until they are Established. */
export async function installCrds(client: KubeClient, fieldManager = 'lastcall-tests'): Promise<void> {
  const crdType: ResourceType = {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    plural: 'customresourcedefinitions',
    kind: 'CustomResourceDefinition',
    namespaced: false,
  };
  const dir = join(repoRoot, 'crds');
  for (const file of readdirSync(dir).filter((f) => f.startsWith('lastcall.dev_') && f.endsWith('.yaml'))) {
    const crd = parse(readFileSync(join(dir, file), 'utf8')) as KubeObject;
    await client.request('PATCH', resourcePath(crdType, { name: crd.metadata.name }), {
      query: { fieldManager, force: true },
      body: crd,
      contentType: contentTypes.apply,
    });
    await waitFor(`CRD ${crd.metadata.name} Established`, async () => {
      const live = await client.request<{
        status?: { conditions?: Array<{ type: string; status: string }> };
      }>('GET', resourcePath(crdType, { name: crd.metadata.name }));
      return live.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
    });
  }
}

/** A fresh namespace with a random suffix; `remove()` deletes it (and everything in it). */
export async function testNamespace(
  client: KubeClient,
  prefix: string,
  labels: Record<string, string> = {},
): Promise<{ name: string; remove: () => Promise<void> }> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await ensureNamespace(client, name, { 'lastcall.dev/test': prefix, ...labels });
  return {
    name,
    remove: async () => {
      await deleteNamespace(client, name).catch(() => undefined);
    },
  };
}

export function counterService(
  name: string,
  namespace: string,
  spec: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: 'lastcall.dev/v1alpha1',
    kind: 'CounterService',
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      image: 'lastcall/workload:v1',
      redis: { address: 'redis:6379', key: name },
      work: { durationSeconds: 5 },
      drain: { propagationSeconds: 5 },
      ...spec,
    },
  };
}

export async function create<T extends KubeObject>(
  client: KubeClient,
  type: ResourceType,
  obj: T,
): Promise<T> {
  return client.request<T>('POST', resourcePath(type, { namespace: obj.metadata.namespace }), { body: obj });
}

export async function get<T extends KubeObject>(
  client: KubeClient,
  type: ResourceType,
  namespace: string | undefined,
  name: string,
): Promise<T | undefined> {
  try {
    return await client.request<T>('GET', resourcePath(type, { namespace, name }));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export async function mergePatch<T extends KubeObject>(
  client: KubeClient,
  type: ResourceType,
  namespace: string | undefined,
  name: string,
  patch: unknown,
  fieldManager = 'kubectl-edit',
): Promise<T> {
  return client.request<T>('PATCH', resourcePath(type, { namespace, name }), {
    query: { fieldManager },
    body: patch,
    contentType: contentTypes.mergePatch,
  });
}

export async function remove(
  client: KubeClient,
  type: ResourceType,
  namespace: string | undefined,
  name: string,
) {
  await client
    .request('DELETE', resourcePath(type, { namespace, name }), {
      query: { propagationPolicy: 'Background' },
    })
    .catch((err) => {
      if (!isNotFound(err)) throw err;
    });
}

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export function condition(obj: KubeObject | undefined, type: string): Condition | undefined {
  const status = obj?.status as { conditions?: Condition[] } | undefined;
  return status?.conditions?.find((c) => c.type === type);
}

/** Events about the object `kind`/`name` in `namespace`. */
export async function eventsFor(
  client: KubeClient,
  namespace: string,
  name: string,
  kind = 'CounterService',
) {
  const list = await client.request<{
    items: Array<{
      reason: string;
      type: string;
      message: string;
      count?: number;
      involvedObject: { name: string; kind: string };
    }>;
  }>('GET', resourcePath(coreTypes.event, { namespace }), {
    query: { fieldSelector: `involvedObject.name=${name},involvedObject.kind=${kind}` },
  });
  return list.items;
}

/**
 * `node operator/main.ts` as a test or benchmark runs it: against `kubeconfig`, metrics and health
 * on ephemeral loopback ports, its Lease in `default`. KUBERNETES_SERVICE_HOST is emptied so it
 * never takes the in-cluster configuration, even when run from inside a pod.
 */
export function spawnOperator(kubeconfig: string, args: string[], stderr: 'pipe' | 'inherit'): ChildProcess {
  return spawn(
    process.execPath,
    [
      join(repoRoot, 'operator', 'main.ts'),
      '--kubeconfig',
      kubeconfig,
      '--metrics-port',
      '0',
      // Plain HTTP on loopback for the tests' scrapes; secure metrics have their own test.
      '--metrics-secure',
      'false',
      '--health-port',
      '0',
      '--bind-address',
      '127.0.0.1',
      '--namespace',
      'default',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', stderr], env: { ...process.env, KUBERNETES_SERVICE_HOST: '' } },
  );
}

/** The operator as a real child process. */
export class OperatorProcess {
  readonly logs: Array<Record<string, unknown>> = [];
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  healthPort = 0;
  metricsPort = 0;
  #stderr = '';

  private constructor(child: ChildProcess) {
    this.child = child;
    // 'close', not 'exit': 'exit' can come before the last lines on stdout are read, and tests
    // look for the shutdown's own log lines (e.g. 'released the lease') right after stop().
    this.exited = new Promise((resolve) =>
      child.once('close', (code, signal) => resolve(signal ? null : code)),
    );
    let buffered = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        try {
          this.logs.push(JSON.parse(line));
        } catch {
          this.logs.push({ msg: line, unparsed: true });
        }
        newline = buffered.indexOf('\n');
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr += chunk;
    });
  }

  static async start(kubeconfig: string, args: string[] = []): Promise<OperatorProcess> {
    const child = spawnOperator(kubeconfig, args, 'pipe');
    const operator = new OperatorProcess(child);
    const listening = await operator.waitForLog('listening', (l) => l.msg === 'listening', 30_000);
    operator.healthPort = Number(listening.healthPort);
    operator.metricsPort = Number(listening.metricsPort);
    return operator;
  }

  /**
   * An operator that watches only `namespace` and leads through a Lease of its own: test files share
   * the cluster, and each one's operator must neither reconcile nor wait for another's.
   */
  static watching(
    kubeconfig: string,
    namespace: string,
    leaseName: string,
    args: string[] = [],
  ): Promise<OperatorProcess> {
    return OperatorProcess.start(kubeconfig, [
      '--watch-namespace',
      namespace,
      '--lease-name',
      leaseName,
      ...args,
    ]);
  }

  get stderr(): string {
    return this.#stderr;
  }

  async waitForLog(
    what: string,
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs = 30_000,
  ): Promise<Record<string, unknown>> {
    return waitFor(
      `operator log: ${what}`,
      () => {
        const found = this.logs.find(match);
        if (found) return found;
        if (this.child.exitCode !== null) {
          throw new Error(`operator exited (${this.child.exitCode}); stderr: ${this.#stderr}`);
        }
        return undefined;
      },
      { timeoutMs, intervalMs: 50 },
    );
  }

  async metrics(): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
    return response.text();
  }

  /** Sum of a metric's samples whose labels match `labels` (all given labels equal). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    return sumMetric(await this.metrics(), name, labels);
  }

  /** Write requests the operator sent, except lease renewals. */
  async writes(): Promise<number> {
    const text = await this.metrics();
    let total = 0;
    for (const verb of ['create', 'update', 'patch', 'apply', 'delete']) {
      total += sumMetric(text, 'lastcall_api_requests_total', { verb });
      total -= sumMetric(text, 'lastcall_api_requests_total', { verb, resource: 'leases' });
    }
    return total;
  }

  async probe(path: '/healthz' | '/readyz'): Promise<number> {
    const response = await fetch(`http://127.0.0.1:${this.healthPort}${path}`);
    await response.text();
    return response.status;
  }

  /** Sends `signal` and resolves with the exit code (null when killed by a signal). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

export function sumMetric(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const sample: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      sample[pair[1] as string] = pair[2] as string;
    if (Object.entries(labels).every(([k, v]) => sample[k] === v)) total += Number(match[3]);
  }
  return total;
}
