// The setup and teardown most operator test files share, as one call. Kept apart from
// operator-harness.ts because bench/operator imports that file outside vitest, and these hooks
// exist only inside it.
import { afterAll, beforeAll, inject } from 'vitest';
import type { KubeClient } from '../../kube/client.ts';
import { adminClient, installCrds, OperatorProcess, testNamespace } from './operator-harness.ts';

export interface OperatorTestbedOptions {
  /** The test namespace is this plus a random suffix: test files share the cluster. */
  namespacePrefix: string;
  /** Extra labels on the namespace, e.g. for a DrainPolicy's namespaceSelector to pick it alone. */
  namespaceLabels?: Record<string, string>;
  /**
   * The tests need pods to run. On a cluster without a node, setup stops after the client (no
   * CRDs, namespace or operator) and `hasNode` is false, for the tests to skip themselves.
   */
  needsNode?: boolean;
  /** An operator watching the namespace, started before the tests (default); `{ args }` adds flags. */
  operator?: boolean | { args: string[] };
  /** Runs once the namespace exists, before the operator starts: what it must find there. */
  prepare?: (testbed: OperatorTestbed) => Promise<void>;
  /**
   * Runs after the operator has stopped and before the namespace is removed: a running operator
   * would react to what this removes, and the namespace's deletion would take objects away under it.
   */
  cleanUp?: (testbed: OperatorTestbed) => Promise<void>;
}

export interface OperatorTestbed {
  readonly kubeconfig: string;
  readonly client: KubeClient;
  /** The test namespace's name. */
  readonly namespace: string;
  readonly operator: OperatorProcess;
  /** Only with `needsNode`. */
  readonly hasNode: boolean;
  /**
   * Starts another operator like the first (same namespace, Lease and flags) and makes it
   * `operator`, e.g. to test a restart. The test stops the old one itself, to check how it exited.
   */
  startOperator(): Promise<OperatorProcess>;
}

/**
 * Registers the beforeAll/afterAll hooks of a file's testbed: an admin client, the CRDs, a namespace
 * of its own and an operator watching only that namespace (with a Lease of its own), torn down in
 * the reverse order: the operator stops before the namespace goes, or it would spend its last
 * moments reconciling objects that are being deleted. The getters read what the hooks made, so
 * they work inside tests and hooks only. Hooks a file registers after this call run after its
 * setup and before its teardown (vitest's default sequence.hooks, 'stack').
 */
export function useOperatorTestbed(options: OperatorTestbedOptions): OperatorTestbed {
  const kubeconfig = inject('kubeconfig');
  const operatorArgs =
    options.operator === false
      ? undefined
      : typeof options.operator === 'object'
        ? options.operator.args
        : [];
  let client: KubeClient | undefined;
  let namespace: { name: string; remove: () => Promise<void> } | undefined;
  let operator: OperatorProcess | undefined;
  let hasNode: boolean | undefined;

  const testbed: OperatorTestbed = {
    kubeconfig,
    get client() {
      return made(client, 'client');
    },
    get namespace() {
      return made(namespace, 'namespace').name;
    },
    get operator() {
      if (!operatorArgs) throw new Error('this testbed starts no operator (operator: false)');
      return made(operator, 'operator');
    },
    get hasNode() {
      if (!options.needsNode) throw new Error('hasNode is known only with needsNode: true');
      return made(hasNode, 'hasNode');
    },
    async startOperator() {
      if (!operatorArgs) throw new Error('this testbed starts no operator (operator: false)');
      // Two operators on one Lease would be a leader-election test, and the first would outlive teardown.
      if (operator && operator.child.exitCode === null && operator.child.signalCode === null) {
        throw new Error('the operator is still running: stop it before starting another');
      }
      const name = testbed.namespace;
      operator = await OperatorProcess.watching(kubeconfig, name, `lastcall-${name}`, operatorArgs);
      return operator;
    },
  };

  beforeAll(async () => {
    client = await adminClient(kubeconfig);
    if (options.needsNode) {
      hasNode = (await client.request<{ items: unknown[] }>('GET', '/api/v1/nodes')).items.length > 0;
      if (!hasNode) return;
    }
    await installCrds(client);
    namespace = await testNamespace(client, options.namespacePrefix, options.namespaceLabels);
    await options.prepare?.(testbed);
    if (operatorArgs) await testbed.startOperator();
  });

  afterAll(async () => {
    await operator?.stop();
    if (namespace) await options.cleanUp?.(testbed);
    await namespace?.remove();
    await client?.close();
  });

  return testbed;
}

function made<T>(value: T | undefined, what: string): T {
  if (value === undefined)
    throw new Error(`no ${what}: the operator testbed's beforeAll has not run, failed, or found no node`);
  return value;
}
