/**
 * The rollout experiment as a library: the CLI, the demo and the end-to-end
 * tests call it. One run: a fresh CounterService with a fresh counter key,
 * load through its NodePort, rolling updates part-way (image tag v1 -> v2 ->
 * ...), then wait for the rollouts and every drain, and compare the Redis
 * counter with the increments that were answered 2xx.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../cluster/tools.ts';
import { waitFor } from '../kube/poll.ts';
import { recentDrainsKept } from '../operator/drains.ts';
import { type FaultRecord, injectFault } from './faults.ts';
import {
  type Cluster,
  type CounterServiceObject,
  connect,
  deleteCounterService,
  ForeignCounterError,
  listPods,
  type PodView,
  patchImage,
  readCounter,
  readCounterService,
  replaceCrashedRedis,
  WORK_SECONDS,
} from './kube.ts';
import { type LoadRun, startLoad } from './load.ts';
import { type LoadSecond, type LoadTotals, perSecondSince } from './load-tally.ts';
import { localStateDirOf, requireLocalCluster } from './local-cluster.ts';
import {
  countedLoad,
  type DrainRecord,
  type ExperimentResult,
  type RolloutRecord,
  type RunConditions,
  type SweepPoint,
  type SweepResult,
  type TimelineSecond,
} from './model.ts';
import type { ExperimentOptions } from './options.ts';
import { formatProgress } from './progress.ts';
import { type Sample, type Sampler, startSampler } from './sampler.ts';
import {
  type ClusterTarget,
  freshCounterService,
  prepare,
  type RunCounterService,
  type RunHooks,
} from './setup.ts';
import { type SlowClientsRun, type SlowTotals, startSlowClients } from './slow-clients.ts';
import { seconds } from './summary.ts';
import { nextSweepRate, summarizeSweep } from './sweep.ts';

// The end-to-end tests and the matrix know these from here; setup.ts, which prepares a run, has them.
export type { ClusterTarget, RunHooks } from './setup.ts';

export const COUNTER_SERVICE_NAME = 'counter';
const WORKLOAD_REPOSITORY = 'lastcall/workload';

/**
 * The cluster in KUBECONFIG, or the local cluster (started when it is not running).
 * kubectl and vegeta come from the tools bin dir either way.
 */
export async function resolveCluster(log: (line: string) => void = () => {}): Promise<ClusterTarget> {
  const fromEnv = process.env.KUBECONFIG;
  if (fromEnv !== undefined && fromEnv !== '') {
    const { ensureTools } = await import('../cluster/tools.ts');
    const binDir = await ensureTools(log);
    const kind =
      process.env.LASTCALL_EXPERIMENT_IN_KIND === '1' ? ' (kind, inside its network namespace)' : '';
    log(`cluster: KUBECONFIG=${fromEnv}${kind}`);
    return { kubeconfig: fromEnv, binDir };
  }
  const { up } = await import('../cluster/launcher.ts');
  const handle = await up({ onProgress: (line) => log(`cluster: ${line}`) });
  log(`cluster: local cluster, API server ${handle.server}, kubeconfig ${handle.kubeconfig}`);
  return { kubeconfig: handle.kubeconfig, binDir: handle.binDir };
}

export function defaultReportPath(label: string, at = new Date()): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  return join(repoRoot, 'reports', `${label}-${stamp}.html`);
}

export function imageTag(n: number): string {
  return `${WORKLOAD_REPOSITORY}:v${n}`;
}

/** Seconds after the load starts at which each rollout patches the image: evenly spread, none at the edges. */
export function rolloutTimes(durationSeconds: number, rollouts: number): number[] {
  return Array.from({ length: rollouts }, (_, i) => (durationSeconds * (i + 1)) / (rollouts + 1));
}

export async function runExperiment(
  target: ClusterTarget,
  options: ExperimentOptions,
  hooks: RunHooks = {},
): Promise<ExperimentResult> {
  const log = hooks.log ?? (() => {});
  const wallStart = Date.now();
  const startedAt = new Date(wallStart).toISOString();
  const { namespace, nodePort, replicas } = options;
  const name = COUNTER_SERVICE_NAME;
  const cluster = await connect(target.kubeconfig, target.binDir);
  // The endpoint delay and the faults act on the local cluster's processes: refuse before any work.
  const stateDir =
    options.endpointDelaySeconds !== undefined || options.fault !== undefined
      ? requireLocalCluster(
          target.kubeconfig,
          options.fault !== undefined ? `--fault ${options.fault}` : '--endpoint-delay',
        )
      : localStateDirOf(target.kubeconfig);

  await prepare(target, namespace, hooks, options.skipInstall);
  if (options.fault === 'redis-kill') await replaceCrashedRedis(cluster, namespace, log);
  let restoreDelay: number | undefined;
  // Loaded only when used, like the launcher in resolveCluster: the CLI's --help stays quick.
  const { setEndpointDelay } = await import('../cluster/launcher.ts');
  if (options.endpointDelaySeconds !== undefined && stateDir !== undefined) {
    restoreDelay = await setEndpointDelay(options.endpointDelaySeconds, { stateDir });
    log(
      `setup: service proxy endpoint delay ${options.endpointDelaySeconds}s for this run (was ${restoreDelay}s)`,
    );
  }
  const service = await freshCounterService(
    cluster,
    {
      namespace,
      name,
      replicas,
      image: imageTag(1),
      mode: options.mode,
      nodePort,
      propagationSeconds: options.propagationSeconds,
      marginSeconds: options.marginSeconds,
    },
    { prefix: 'experiment', startedAt },
    log,
  );
  const { counterKey } = service;
  log(
    `setup: CounterService ${namespace}/${name}: ${replicas} × ${imageTag(1)}, drain ${options.mode}` +
      `${options.propagationSeconds === undefined ? '' : `, propagation ${options.propagationSeconds}s`}` +
      `${options.marginSeconds === undefined ? '' : `, margin ${options.marginSeconds}s`}, ` +
      `NodePort ${nodePort}, counter key ${counterKey}`,
  );
  try {
    await waitForServing(cluster, service, log);
    log(`setup: ready after ${seconds((Date.now() - wallStart) / 1000)}; starting the load`);
    const result = await measure(cluster, target, options, hooks, stateDir, service);
    return { ...result, startedAt, wallSeconds: (Date.now() - wallStart) / 1000 };
  } finally {
    if (restoreDelay !== undefined && stateDir !== undefined) {
      await setEndpointDelay(restoreDelay, { stateDir }).catch((error: unknown) =>
        log(`cleanup: endpoint delay: ${error instanceof Error ? error.message : String(error)}`),
      );
    }
    if (!options.keep) {
      await deleteCounterService(cluster, namespace, name).catch((error: unknown) =>
        log(`cleanup: ${error instanceof Error ? error.message : String(error)}`),
      );
    } else {
      log(`kept: CounterService ${namespace}/${name} (NodePort ${nodePort})`);
    }
  }
}

/**
 * Waits until `replicas` pods of the CounterService are ready and GET /count through the NodePort
 * answers 0 for `counterKey`; a NodePort answering for another key is a ForeignCounterError at once.
 */
export async function waitForServing(
  cluster: Cluster,
  plan: RunCounterService,
  log: (line: string) => void,
): Promise<void> {
  const { namespace, name, replicas, nodePort, counterKey } = plan;
  let lastCs: CounterServiceObject | undefined;
  let foreign: ForeignCounterError | undefined;
  let lastReport = Date.now();
  await waitFor(
    `${replicas} ready pod(s) of ${namespace}/${name} answering GET /count through NodePort ${nodePort}`,
    async () => {
      lastCs = await readCounterService(cluster, namespace, name);
      const pods = await listPods(cluster, namespace, name);
      if (Date.now() - lastReport >= 10_000) {
        lastReport = Date.now();
        log(`setup: waiting for the pods: ${describePods(pods)}; ${describeCounterService(lastCs)}`);
      }
      if (pods.filter((p) => p.ready).length < replicas) return undefined;
      try {
        return (await readCounter(nodePort, counterKey)) === 0 ? true : undefined;
      } catch (error) {
        // not worth waiting out: the port belongs to someone else until they let go of it
        if (error instanceof ForeignCounterError) foreign = error;
        if (foreign !== undefined) return true;
        throw error;
      }
    },
    { timeoutMs: 180_000, intervalMs: 500, describeState: () => describeCounterService(lastCs) },
  );
  if (foreign !== undefined) throw foreign;
}

/** Waits until the newest rollout has completed (at once when none started). */
export async function waitForLastRollout(
  records: readonly RolloutRecord[],
  sampler: Pick<Sampler, 'pods' | 'counterService'>,
): Promise<void> {
  await waitFor(
    'the last rollout to complete (every pod on the new image and ready, every old pod gone)',
    async () => {
      const last = records.at(-1);
      return last === undefined || last.completedAt !== null ? true : undefined;
    },
    {
      timeoutMs: 240_000,
      intervalMs: 250,
      describeState: () =>
        `pods: ${describePods(sampler.pods)}; ${describeCounterService(sampler.counterService)}`,
    },
  );
}

/**
 * The last increments land WORK_SECONDS after their answer: waits for the counter to reach the
 * `answered` count, or (hard mode, lost increments) to stand still once that time has passed since
 * the load ended. Never throws: a counter that does not settle is logged, and the run compares the
 * count it then reads with what was answered.
 */
export async function waitForCounterToSettle(
  sampler: Pick<Sampler, 'counter' | 'counterChangedAt'>,
  answered: number,
  loadEndedAt: number,
  log: (line: string) => void,
): Promise<void> {
  await waitFor(
    `the counter to reach ${answered} or settle`,
    async () => {
      if (sampler.counter === answered) return true;
      const quiet = Date.now() - sampler.counterChangedAt;
      const sinceLoad = Date.now() - loadEndedAt;
      return sinceLoad > (WORK_SECONDS + 3) * 1000 && quiet > 4000 ? true : undefined;
    },
    {
      timeoutMs: 90_000,
      intervalMs: 250,
      describeState: () => `counter ${sampler.counter}, answered ${answered}`,
    },
  ).catch((error: unknown) => log(`counter: ${error instanceof Error ? error.message : String(error)}`));
}

/** The load, the rollouts, the drains and the final count. */
async function measure(
  cluster: Cluster,
  target: ClusterTarget,
  options: ExperimentOptions,
  hooks: RunHooks,
  stateDir: string | undefined,
  service: RunCounterService,
): Promise<Omit<ExperimentResult, 'startedAt' | 'wallSeconds'>> {
  const log = hooks.log ?? (() => {});
  const { namespace, name, nodePort, replicas, counterKey } = service;
  const { rate } = options;
  const records: RolloutRecord[] = [];
  let phase = '';

  const load: LoadRun = startLoad({
    vegeta: join(target.binDir, 'vegeta'),
    url: `http://127.0.0.1:${nodePort}/incr`,
    rate,
    durationSeconds: options.durationSeconds,
    method: options.method,
  });
  const t0 = load.startedAt;
  const slow: SlowClientsRun | undefined =
    options.slowClients > 0
      ? startSlowClients(
          { port: nodePort, clients: options.slowClients, until: t0 + options.durationSeconds * 1000 },
          t0,
        )
      : undefined;
  const faults: FaultRecord[] = [];
  const elapsed = () => (Date.now() - t0) / 1000;

  const sampler = startSampler({
    cluster,
    ...service,
    t0,
    rollouts: records,
    onSample: (t, sample) => {
      const snap = withSlow(load.snapshot(), slow?.snapshot());
      log(
        formatProgress({
          elapsedSeconds: t,
          sent: load.finished ? snap.sent : Math.max(snap.sent, load.scheduledSent()),
          answered: snap.sent,
          ok: snap.ok,
          failed: snap.failed,
          ...sample,
          phase: phase || rolloutPhase(records, t),
        }),
      );
    },
  });

  // The rolling updates, spread over the load: each patches spec.image to the next tag.
  const rollouts = (async () => {
    const times = rolloutTimes(options.durationSeconds, options.rollouts);
    for (let i = 0; i < times.length; i++) {
      const at = t0 + (times[i] as number) * 1000;
      if (at > Date.now()) await sleep(at - Date.now());
      const record: RolloutRecord = {
        index: i + 1,
        fromImage: imageTag(i + 1),
        toImage: imageTag(i + 2),
        startedAt: elapsed(),
        readyAt: null,
        completedAt: null,
      };
      records.push(record);
      await patchImage(cluster, namespace, name, record.toImage);
    }
  })();

  // The fault, once, when the first rolling update has a pod terminating: the moment a drain
  // depends on Redis (its pending increments), on the operator (its drain record) and on the API
  // server (the kubelet's status writes and the pod's removal).
  const fault = (async () => {
    if (options.fault === undefined || stateDir === undefined) return;
    await waitFor(
      'the first rolling update to have a pod terminating',
      async () => (records.length > 0 && sampler.pods.some((p) => p.terminating) ? true : undefined),
      { timeoutMs: options.durationSeconds * 1000 + 60_000, intervalMs: 100 },
    );
    faults.push(
      await injectFault({ name: options.fault, stateDir, client: cluster.client, namespace, elapsed, log }),
    );
    const f = faults.at(-1);
    if (f !== undefined) log(`fault: ${f.name}: ${f.detail}`);
  })();

  try {
    const [vegetaTotals, slowTotals] = await Promise.all([load.done, slow?.done, rollouts, fault]);
    const totals = withSlow(vegetaTotals, slowTotals);
    const loadEndedAt = Date.now();
    const finalImage = imageTag(options.rollouts + 1);
    phase = 'waiting for the rollout and the drains';
    await waitForLastRollout(records, sampler);

    const replaced = [...sampler.podsSeen].filter(([, image]) => image !== finalImage).map(([pod]) => pod);
    const drainsFor = () => {
      const recent = sampler.counterService?.status?.drains?.recent ?? [];
      return recent.filter((d) => replaced.includes(String(d.pod))) as DrainRecord[];
    };
    phase = 'waiting for the drain records';
    await waitFor(
      `drain records of ${replaced.length} replaced pod(s) in status.drains`,
      async () => {
        const observed = sampler.counterService?.status?.drains?.observed ?? 0;
        // status keeps only the newest records; beyond them the observed count must do
        return drainsFor().length >= Math.min(replaced.length, recentDrainsKept) &&
          observed >= replaced.length
          ? true
          : undefined;
      },
      {
        timeoutMs: 60_000,
        intervalMs: 250,
        describeState: () => `found ${drainsFor().length}: ${describeCounterService(sampler.counterService)}`,
      },
    ).catch((error: unknown) => log(`drains: ${error instanceof Error ? error.message : String(error)}`));

    phase = 'waiting for the counter to settle';
    await waitForCounterToSettle(sampler, totals.ok, loadEndedAt, log);
    await sampler.stop();
    const counter = await waitFor('GET /count to answer', async () => readCounter(nodePort, counterKey), {
      intervalMs: 500,
    });

    const drains = drainsFor();
    const first = records[0];
    const last = records.at(-1);
    return {
      mode: options.mode,
      rate,
      duration: options.durationSeconds,
      replicas,
      rollouts: options.rollouts,
      namespace,
      name,
      nodePort,
      ...countedLoad(totals, counter),
      rolloutSeconds:
        first !== undefined && last?.completedAt != null ? last.completedAt - first.startedAt : null,
      rolloutRecords: records,
      drains,
      drainsMissing: replaced.filter((pod) => !drains.some((d) => d.pod === pod)),
      gracePeriodSeconds: sampler.counterService?.status?.budget?.gracePeriodSeconds ?? null,
      timeline: mergeTimeline(
        addSeconds(perSecondSince(t0, vegetaTotals), slowTotals?.perSecond ?? []),
        sampler.samples,
      ),
      conditions: conditionsOf(options),
      faults,
      slow:
        slowTotals === undefined
          ? null
          : {
              clients: options.slowClients,
              sent: slowTotals.sent,
              ok: slowTotals.ok,
              failed: slowTotals.failed,
            },
      reportPath: null,
    };
  } finally {
    load.stop();
    slow?.stop();
    await sampler.stop().catch(() => {});
  }
}

function conditionsOf(options: ExperimentOptions): RunConditions {
  return {
    endpointDelaySeconds: options.endpointDelaySeconds ?? null,
    propagationSeconds: options.propagationSeconds ?? null,
    ...(options.marginSeconds === undefined ? {} : { marginSeconds: options.marginSeconds }),
    method: options.method,
    slowClients: options.slowClients,
    fault: options.fault ?? null,
  };
}

/** vegeta's totals with the slow clients' added (they are increments too). */
function withSlow(load: LoadTotals, slow: SlowTotals | undefined): LoadTotals {
  if (slow === undefined) return load;
  const failures = { ...load.failures };
  for (const [cause, n] of Object.entries(slow.failures)) failures[cause] = (failures[cause] ?? 0) + n;
  return {
    ...load,
    sent: load.sent + slow.sent,
    ok: load.ok + slow.ok,
    failed: load.failed + slow.failed,
    failures,
  };
}

function addSeconds(a: readonly LoadSecond[], b: readonly LoadSecond[]): LoadSecond[] {
  return Array.from({ length: Math.max(a.length, b.length) }, (_, t) => ({
    sent: (a[t]?.sent ?? 0) + (b[t]?.sent ?? 0),
    ok: (a[t]?.ok ?? 0) + (b[t]?.ok ?? 0),
    failed: (a[t]?.failed ?? 0) + (b[t]?.failed ?? 0),
  }));
}

function rolloutPhase(records: readonly RolloutRecord[], t: number): string {
  const current = records.at(-1);
  if (current === undefined) return '';
  const tag = current.toImage.split(':').at(-1);
  if (current.completedAt !== null)
    return `rollout ${current.index} -> ${tag} done in ${seconds(current.completedAt - current.startedAt)}`;
  return `rollout ${current.index} -> ${tag} running ${seconds(t - current.startedAt)}`;
}

/** Load per second plus the sampled pods and counter; a second without a sample holds the last pod counts. */
export function mergeTimeline(
  perSecond: readonly { sent: number; ok: number; failed: number }[],
  samples: ReadonlyMap<number, Sample>,
): TimelineSecond[] {
  const length = Math.max(perSecond.length, ...[...samples.keys()].map((t) => t + 1));
  const timeline: TimelineSecond[] = [];
  let held: Sample = { podsReady: 0, podsTerminating: 0, counter: null };
  for (let t = 0; t < length; t++) {
    const load = perSecond[t] ?? { sent: 0, ok: 0, failed: 0 };
    const sample = samples.get(t);
    if (sample !== undefined) held = sample;
    timeline.push({
      t,
      ...load,
      podsReady: held.podsReady,
      podsTerminating: held.podsTerminating,
      counter: sample === undefined ? null : sample.counter,
    });
  }
  return timeline;
}

export function describePods(pods: readonly PodView[]): string {
  if (pods.length === 0) return 'no pods';
  return pods
    .map((p) => `${p.name} ${p.image} ${p.terminating ? 'terminating' : p.ready ? 'ready' : 'not ready'}`)
    .join(', ');
}

export function describeCounterService(cs: CounterServiceObject | undefined): string {
  if (cs === undefined) return 'CounterService not found';
  const s = cs.status ?? {};
  const conditions = (s.conditions ?? [])
    .map(
      (c) => `${c.type}=${c.status}${c.reason ? ` (${c.reason}${c.message ? `: ${c.message}` : ''})` : ''}`,
    )
    .join(', ');
  return `CounterService phase ${s.phase ?? '?'}, ready ${s.readyReplicas ?? 0}/${cs.spec.replicas}, conditions: ${conditions || 'none'}`;
}

/**
 * Runs at rising rates (see sweep.ts) and returns every run plus the curve.
 * A run that cannot complete counts as lossy, with its error.
 */
export async function runSweep(
  target: ClusterTarget,
  options: ExperimentOptions,
  hooks: RunHooks = {},
): Promise<{ sweep: SweepResult; runs: ExperimentResult[] }> {
  const log = hooks.log ?? (() => {});
  const points: SweepPoint[] = [];
  const runs: ExperimentResult[] = [];
  const plan = { startRate: options.rate, maxRate: options.sweepMaxRate };
  for (let rate = nextSweepRate(points, plan); rate !== null; rate = nextSweepRate(points, plan)) {
    log(`sweep: run ${points.length + 1} at ${rate}/s for ${options.durationSeconds}s`);
    try {
      const result = await runExperiment(target, { ...options, rate, keep: false }, hooks);
      runs.push(result);
      points.push({
        rate,
        sent: result.sent,
        ok: result.ok,
        failed: result.failed,
        lost: result.lost,
        error: null,
        failures: result.failures,
      });
      log(
        `sweep: ${rate}/s: sent ${result.sent}, ok ${result.ok}, failed ${result.failed}, lost ${result.lost}`,
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      points.push({ rate, sent: 0, ok: 0, failed: 0, lost: 0, error: message.slice(0, 300) });
      log(`sweep: ${rate}/s did not complete: ${message}`);
    }
  }
  return { sweep: summarizeSweep(points), runs };
}
