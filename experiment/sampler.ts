/**
 * One sample a second while the experiment runs: the CounterService's pods,
 * the CounterService itself (status.drains, status.budget) and the Redis
 * counter through GET /count. It also moves the rollout records along
 * (trackRollouts) and remembers every pod it saw with its image, so the
 * runner knows which pods a rollout replaced.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Cluster,
  type CounterServiceObject,
  listPods,
  type PodView,
  readCounter,
  readCounterService,
} from './kube.ts';
import type { RolloutRecord } from './model.ts';

export interface Sample {
  podsReady: number;
  podsTerminating: number;
  counter: number | null;
}

interface SamplerPlan {
  cluster: Cluster;
  namespace: string;
  name: string;
  nodePort: number;
  /** the run's counter key: a count for another key is not this run's (see ForeignCounterError) */
  counterKey: string;
  replicas: number;
  /** wall-clock ms of second 0 (the start of the load) */
  t0: number;
  /** the rollout records the runner appends to; the sampler sets readyAt and completedAt */
  rollouts: RolloutRecord[];
  /** after each sample, e.g. to print a progress line */
  onSample?: (t: number, sample: Sample) => void;
}

export interface Sampler {
  /** samples by whole second since t0 */
  readonly samples: ReadonlyMap<number, Sample>;
  /** every pod seen, with its image */
  readonly podsSeen: ReadonlyMap<string, string>;
  readonly pods: readonly PodView[];
  readonly counterService: CounterServiceObject | undefined;
  /** the last counter read that succeeded */
  readonly counter: number | null;
  /** wall-clock ms of the last change of the counter */
  readonly counterChangedAt: number;
  stop(): Promise<void>;
}

export function startSampler(plan: SamplerPlan): Sampler {
  const samples = new Map<number, Sample>();
  const podsSeen = new Map<string, string>();
  const state = {
    pods: [] as PodView[],
    counterService: undefined as CounterServiceObject | undefined,
    counter: null as number | null,
    counterChangedAt: Date.now(),
  };
  let running = true;
  const elapsed = () => (Date.now() - plan.t0) / 1000;

  const loop = (async () => {
    for (let tick = 0; running; tick++) {
      const [pods, cs, counter] = await Promise.allSettled([
        listPods(plan.cluster, plan.namespace, plan.name),
        readCounterService(plan.cluster, plan.namespace, plan.name),
        // shorter than the tick, so a hung read cannot stretch the second
        readCounter(plan.nodePort, plan.counterKey, 900),
      ]);
      const t = elapsed();
      if (pods.status === 'fulfilled') {
        state.pods = pods.value;
        for (const p of pods.value) podsSeen.set(p.name, p.image);
        trackRollouts(plan.rollouts, pods.value, plan.replicas, t);
      }
      if (cs.status === 'fulfilled') state.counterService = cs.value;
      const value = counter.status === 'fulfilled' ? counter.value : null;
      if (value !== null && value !== state.counter) {
        state.counter = value;
        state.counterChangedAt = Date.now();
      }
      const sample: Sample = {
        podsReady: state.pods.filter((p) => p.ready).length,
        podsTerminating: state.pods.filter((p) => p.terminating).length,
        counter: value,
      };
      samples.set(Math.floor(t), sample);
      plan.onSample?.(t, sample);
      // stay on whole seconds since t0; a slow round skips to the current second
      const next = plan.t0 + (tick + 1) * 1000;
      if (next > Date.now()) await sleep(next - Date.now());
      else tick = Math.floor(elapsed());
    }
  })();

  return {
    samples,
    podsSeen,
    get pods() {
      return state.pods;
    },
    get counterService() {
      return state.counterService;
    },
    get counter() {
      return state.counter;
    },
    get counterChangedAt() {
      return state.counterChangedAt;
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** A rollout is ready when `replicas` pods of the new image are Ready, complete when no other pod is left. */
export function trackRollouts(
  records: RolloutRecord[],
  pods: readonly PodView[],
  replicas: number,
  t: number,
): void {
  const current = records.at(-1);
  if (current === undefined || current.completedAt !== null) return;
  const newReady = pods.filter((p) => p.image === current.toImage && p.ready).length;
  if (current.readyAt === null && newReady >= replicas) current.readyAt = t;
  if (newReady >= replicas && pods.every((p) => p.image === current.toImage && !p.terminating)) {
    current.completedAt = t;
  }
}
