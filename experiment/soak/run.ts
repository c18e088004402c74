/**
 * The soak run (issue 14): an hour in production, compressed. Sustained load through the
 * CounterService's NodePort for `minutes`, a rolling update every `rolloutEverySeconds`, a fault
 * every `faultEverySeconds`, and, throughout, the memory of Redis, of the workload pods and of the
 * operator. It reuses the experiment's pieces: setup (setup.ts, run.ts), the load driver (load.ts),
 * the sampler (pods, CounterService, counter each second), the faults and the timeline.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../kube/poll.ts';
import { type FaultRecord, injectFault } from '../faults.ts';
import { connect, deleteCounterService, patchImage, readCounter } from '../kube.ts';
import { startLoad } from '../load.ts';
import { type LoadTotals, perSecondSince } from '../load-tally.ts';
import { localStateDirOf, requireLocalCluster } from '../local-cluster.ts';
import { type CountedLoad, countedLoad, type RolloutRecord, type TimelineSecond } from '../model.ts';
import {
  COUNTER_SERVICE_NAME,
  imageTag,
  mergeTimeline,
  waitForCounterToSettle,
  waitForLastRollout,
  waitForServing,
} from '../run.ts';
import { startSampler } from '../sampler.ts';
import { type ClusterTarget, freshCounterService, prepare, type RunHooks } from '../setup.ts';
import { seconds } from '../summary.ts';
import { formatValue, type LineSlope, linesOf, slopesOf } from './lines.ts';
import { type SoakOptions, warmupOf } from './options.ts';
import { type ProbeReading, startProbes } from './probes.ts';
import { aggregate, everyTimes, faultTimes, soakTag } from './stats.ts';

export interface DrainCounts {
  observed: number;
  clean: number;
  killed: number;
  abandoned: number;
  crashed: number;
  abandonedIncrements: number;
}

export interface SoakResult extends CountedLoad {
  cluster: SoakOptions['cluster'];
  minutes: number;
  rate: number;
  replicas: number;
  rolloutEverySeconds: number;
  faultEverySeconds: number;
  namespace: string;
  nodePort: number;
  counterKey: string;
  rollouts: RolloutRecord[];
  faults: FaultRecord[];
  drains: DrainCounts;
  timeline: TimelineSecond[];
  probes: ProbeReading[];
  warmupSeconds: number;
  slopes: LineSlope[];
  /** probe readings that failed, by what failed (pods that just stopped serving count here too) */
  probeErrors: Record<string, number>;
  startedAt: string;
  wallSeconds: number;
  reportPath: string | null;
}

export function soakPassed(r: Pick<SoakResult, 'lost' | 'failed' | 'sent' | 'ok'>): boolean {
  return r.lost === 0 && r.failed === 0 && r.sent === r.ok;
}

export async function runSoak(
  target: ClusterTarget,
  options: SoakOptions,
  hooks: RunHooks = {},
): Promise<SoakResult> {
  const log = hooks.log ?? (() => {});
  const wallStart = Date.now();
  const startedAt = new Date(wallStart).toISOString();
  const { namespace, nodePort, replicas, rate } = options;
  const name = COUNTER_SERVICE_NAME;
  const durationSeconds = options.minutes * 60;
  const stateDir =
    options.faultEverySeconds > 0
      ? requireLocalCluster(target.kubeconfig, '--fault-every')
      : localStateDirOf(target.kubeconfig);
  const cluster = await connect(target.kubeconfig, target.binDir);
  await prepare(target, namespace, hooks, options.skipInstall);
  const service = await freshCounterService(
    cluster,
    { namespace, name, replicas, image: imageTag(soakTag(0)), mode: 'graceful', nodePort },
    { prefix: 'soak', startedAt },
    log,
  );
  const { counterKey } = service;
  log(
    `setup: CounterService ${namespace}/${name}: ${replicas} × ${imageTag(soakTag(0))}, NodePort ${nodePort}, counter key ${counterKey}`,
  );
  const probes = await startProbes({
    client: cluster.client,
    namespace,
    selector: `lastcall.dev/counterservice=${name}`,
  });
  try {
    await waitForServing(cluster, service, log);
    log(
      `setup: ready after ${seconds((Date.now() - wallStart) / 1000)}; ${rate}/s for ${options.minutes} min`,
    );

    const records: RolloutRecord[] = [];
    const faults: FaultRecord[] = [];
    const readings: ProbeReading[] = [];
    const probeErrors: Record<string, number> = {};
    let phase = '';
    const load = startLoad({
      vegeta: join(target.binDir, 'vegeta'),
      url: `http://127.0.0.1:${nodePort}/incr`,
      rate,
      durationSeconds,
    });
    const t0 = load.startedAt;
    const elapsed = () => (Date.now() - t0) / 1000;
    let stopping = false;

    const sampler = startSampler({
      cluster,
      ...service,
      t0,
      rollouts: records,
      onSample: (t, sample) => {
        if (Math.floor(t) % options.progressEverySeconds !== 0) return;
        const snap = load.snapshot();
        log(
          formatSoakProgress({
            t,
            sent: load.finished ? snap.sent : Math.max(snap.sent, load.scheduledSent()),
            ok: snap.ok,
            failed: snap.failed,
            counter: sample.counter,
            podsReady: sample.podsReady,
            podsTerminating: sample.podsTerminating,
            probe: readings.at(-1),
            phase: phase || rolloutPhase(records, t, faults),
          }),
        );
      },
    });

    const probing = (async () => {
      for (let tick = 0; !stopping; tick++) {
        const reading = await probes.read(elapsed());
        readings.push(reading);
        for (const e of reading.errors) {
          const what = e.replace(/^(workload|operator) \S+:/, '$1 pod:');
          probeErrors[what] = (probeErrors[what] ?? 0) + 1;
        }
        const next = t0 + (tick + 1) * options.probeEverySeconds * 1000;
        if (next > Date.now()) await sleep(next - Date.now());
        else tick = Math.floor(elapsed() / options.probeEverySeconds);
      }
    })();

    const rolling = (async () => {
      const times = everyTimes(options.rolloutEverySeconds, durationSeconds);
      for (let i = 0; i < times.length; i++) {
        const at = t0 + (times[i] as number) * 1000;
        if (at > Date.now()) await sleep(at - Date.now());
        if (stopping) return;
        const record: RolloutRecord = {
          index: i + 1,
          fromImage: imageTag(soakTag(i)),
          toImage: imageTag(soakTag(i + 1)),
          startedAt: elapsed(),
          readyAt: null,
          completedAt: null,
        };
        const previous = records.at(-1);
        if (previous !== undefined && previous.completedAt === null) {
          log(
            `rollout ${previous.index} has not completed after ${seconds(elapsed() - previous.startedAt)}; starting ${record.index} anyway`,
          );
        }
        records.push(record);
        await patchImage(cluster, namespace, name, record.toImage);
      }
    })();

    // Faults in turn (faultTimes: half-way between rollouts).
    const faulting = (async () => {
      if (options.faultEverySeconds === 0 || stateDir === undefined) return;
      const times = faultTimes(options.faultEverySeconds, options.rolloutEverySeconds, durationSeconds);
      for (let i = 0; i < times.length; i++) {
        const at = t0 + (times[i] as number) * 1000;
        if (at > Date.now()) await sleep(at - Date.now());
        if (stopping) return;
        const fault = options.faults[i % options.faults.length] as (typeof options.faults)[number];
        const record = await injectFault({
          name: fault,
          stateDir,
          client: cluster.client,
          namespace,
          elapsed,
          log,
        });
        faults.push(record);
        log(`fault: ${record.name}: ${record.detail}`);
      }
    })();

    let totals: LoadTotals;
    try {
      [totals] = await Promise.all([load.done, rolling, faulting]);
      const loadEndedAt = Date.now();
      phase = 'waiting for the last rollout';
      await waitForLastRollout(records, sampler);
      phase = 'waiting for the counter to settle';
      await waitForCounterToSettle(sampler, totals.ok, loadEndedAt, log);
    } finally {
      stopping = true;
      load.stop();
      await sampler.stop().catch(() => {});
      await probing.catch(() => {});
    }
    const counter = await waitFor('GET /count to answer', async () => readCounter(nodePort, counterKey), {
      intervalMs: 500,
    });
    const d = (sampler.counterService?.status?.drains ?? {}) as Record<string, unknown>;
    const num = (k: string) => (typeof d[k] === 'number' ? (d[k] as number) : 0);
    const warmupSeconds = warmupOf(options);
    return {
      cluster: options.cluster,
      minutes: options.minutes,
      rate,
      replicas,
      rolloutEverySeconds: options.rolloutEverySeconds,
      faultEverySeconds: options.faultEverySeconds,
      namespace,
      nodePort,
      counterKey,
      ...countedLoad(totals, counter),
      rollouts: records,
      faults,
      drains: {
        observed: num('observed'),
        clean: num('clean'),
        killed: num('killed'),
        abandoned: num('abandoned'),
        crashed: num('crashed'),
        abandonedIncrements: num('abandonedIncrements'),
      },
      timeline: mergeTimeline(perSecondSince(t0, totals), sampler.samples),
      probes: readings,
      warmupSeconds,
      slopes: slopesOf(linesOf(readings), warmupSeconds),
      probeErrors,
      startedAt,
      wallSeconds: (Date.now() - wallStart) / 1000,
      reportPath: null,
    };
  } finally {
    await probes
      .close()
      .catch((error: unknown) => log(`cleanup: ${error instanceof Error ? error.message : String(error)}`));
    await deleteCounterService(cluster, namespace, name).catch((error: unknown) =>
      log(`cleanup: ${error instanceof Error ? error.message : String(error)}`),
    );
  }
}

function rolloutPhase(records: readonly RolloutRecord[], t: number, faults: readonly FaultRecord[]): string {
  const parts: string[] = [];
  const current = records.at(-1);
  if (current !== undefined) {
    const tag = current.toImage.split(':').at(-1);
    parts.push(
      current.completedAt !== null
        ? `rollout ${current.index} -> ${tag} done in ${seconds(current.completedAt - current.startedAt)}`
        : `rollout ${current.index} -> ${tag} running ${seconds(t - current.startedAt)}`,
    );
  }
  const f = faults.at(-1);
  if (f !== undefined) parts.push(`fault ${faults.length} ${f.name} at ${seconds(f.at)}`);
  return parts.join(', ');
}

export interface SoakProgress {
  t: number;
  sent: number;
  ok: number;
  failed: number;
  counter: number | null;
  podsReady: number;
  podsTerminating: number;
  probe: ProbeReading | undefined;
  phase: string;
}

/** `  125s  sent 25000 ok 25000 failed 0 | counter 24010 | pods 3+1 | redis 1.2 MB 14 keys 0.31 ms | workload 95.1 MB | operator 120.3 MB | rollout ...` */
export function formatSoakProgress(p: SoakProgress): string {
  const pad = (n: number | null, w: number) => String(n ?? '–').padStart(w);
  const parts = [
    `${pad(Math.floor(p.t), 5)}s  sent ${pad(p.sent, 8)} ok ${pad(p.ok, 8)} failed ${pad(p.failed, 4)}`,
    `counter ${pad(p.counter, 8)}`,
    `pods ${p.podsReady} ready ${p.podsTerminating} terminating`,
  ];
  const r = p.probe?.redis;
  if (r != null)
    parts.push(
      `redis ${formatValue(r.usedMemoryBytes, 'bytes')} ${r.keys} keys ping ${formatValue(r.pingMs, 'ms')}`,
    );
  const w = aggregate(p.probe?.workload.map((x) => x.rssBytes) ?? []);
  if (w !== null) parts.push(`workload ${formatValue(w.mean, 'bytes')}`);
  const o = p.probe?.operator ?? [];
  if (o.length > 0) parts.push(`operator ${o.map((x) => formatValue(x.rssBytes, 'bytes')).join(' ')}`);
  if (p.phase !== '') parts.push(p.phase);
  return parts.join(' | ');
}
