/**
 * The experiments the end-to-end suite runs, shared by the tests and by the
 * kind path's check that every image tag they roll to is loaded into kind.
 */
import { inject } from 'vitest';
import { freeNodePort } from '../../cluster/ports.ts';
import { ensureTools } from '../../cluster/tools.ts';
import { kubectl } from '../../experiment/kube.ts';
import { localStateDirOf } from '../../experiment/local-cluster.ts';
import type { ExperimentResult } from '../../experiment/model.ts';
import { DEFAULT_OPTIONS, type ExperimentOptions } from '../../experiment/options.ts';
import { writeReport } from '../../experiment/report.ts';
import { type ClusterTarget, defaultReportPath, runExperiment } from '../../experiment/run.ts';
import { formatSummary } from '../../experiment/summary.ts';
import { waitFor } from '../../kube/poll.ts';

export type Plan = Pick<ExperimentOptions, 'rate' | 'durationSeconds' | 'replicas' | 'rollouts' | 'mode'> &
  Partial<
    Pick<
      ExperimentOptions,
      'endpointDelaySeconds' | 'propagationSeconds' | 'method' | 'slowClients' | 'fault' | 'nodePort'
    >
  >;

/** The seed experiment: 1000 requests, 25/s for 40 s, one replica, one rolling update. */
export const SEED: Plan = { rate: 25, durationSeconds: 40, replicas: 1, rollouts: 1, mode: 'graceful' };

/** Several replicas, three times the rate, three rolling updates while the load runs. */
export const HARDER: Plan = { rate: 75, durationSeconds: 40, replicas: 3, rollouts: 3, mode: 'graceful' };

/**
 * The negative control: the same rollout without a drain. At 25/s with 5 s of
 * work about 125 increments are pending in the old pod when it is told to stop.
 */
export const CONTROL: Plan = { rate: 25, durationSeconds: 20, replicas: 1, rollouts: 1, mode: 'hard' };

export const ALL_PLANS = [SEED, HARDER, CONTROL];

/** The suite's NodePort on kind, whose configuration publishes it (and the experiment's 30080). */
export const E2E_NODE_PORT = 30081;
export const E2E_NAMESPACE = 'lastcall-e2e';

/**
 * The NodePort for a run: on kind the published one; on a local cluster a free one, because every
 * local cluster on the machine serves its NodePorts on 127.0.0.1, and a fixed port sent one test
 * run's load to another run's cluster (the runner refuses a foreign counter, which failed the run).
 */
export async function e2eNodePort(): Promise<number> {
  return localStateDirOf(inject('kubeconfig')) === undefined ? E2E_NODE_PORT : freeNodePort();
}

export function optionsFor(plan: Plan, nodePort = E2E_NODE_PORT): ExperimentOptions {
  return { ...DEFAULT_OPTIONS, nodePort, ...plan, namespace: E2E_NAMESPACE };
}

/** Progress lines go to stderr, beside vitest's own output. */
export const log = (line: string) => process.stderr.write(`${line}\n`);

/** Runs `plan` on the suite's cluster, writes its report (reports/<label>-…html) and logs its summary. */
export async function runPlan(plan: Plan, label: string, title: string): Promise<ExperimentResult> {
  const result = await runExperiment(await e2eTarget(), optionsFor(plan, await e2eNodePort()), { log });
  result.reportPath = defaultReportPath(label);
  await writeReport(result.reportPath, { title, runs: [result] });
  log(formatSummary(result).join('\n'));
  return result;
}

/** The cluster of the "cluster" project's globalSetup (local, or kind through LASTCALL_E2E_KUBECONFIG). */
export async function e2eTarget(): Promise<ClusterTarget> {
  return { kubeconfig: inject('kubeconfig'), binDir: await ensureTools() };
}

/**
 * The runner installs lastcall with its operator in the cluster; the other suites of the
 * "cluster" project run operators of their own (per namespace) on the same cluster, so a
 * file that installed it removes the operator again (the CRDs, which everyone shares, stay).
 */
export async function removeInClusterOperator(): Promise<void> {
  const target = await e2eTarget();
  await kubectl(target, ['delete', '-k', 'config/manager', '--ignore-not-found', '--wait=false']);
  // Its pods watch every namespace: until they are gone they would also reconcile what the next
  // test file creates. The Deployment goes at once; its pods after the garbage collector and
  // their graceful shutdown.
  await waitFor(
    'the in-cluster operator pods to be gone',
    async () => {
      const pods = await kubectl(target, [
        'get',
        'pods',
        '-n',
        'lastcall-system',
        '-l',
        'app.kubernetes.io/name=lastcall,app.kubernetes.io/component=operator',
        '-o',
        'name',
      ]);
      return pods.trim() === '' ? true : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
}
