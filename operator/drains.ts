// Drain observation: what each terminating pod of a CounterService reported, turned into records
// in status, events, and a recommended grace period.
//
// When a pod is deleted the kubelet runs the preStop hook, sends SIGTERM, waits up to the grace
// period, then SIGKILLs. It then writes the container's final state, terminated {exitCode, reason,
// message, finishedAt}, where message is the file at terminationMessagePath (the workload writes
// its drain report there). That final status update, or the DELETED event that carries the last
// state, is where a drain becomes observable.
import {
  EXIT_CODES,
  parseTerminationReport,
  type ReportFields,
  SIGKILL_EXIT_CODE,
} from '../contracts/drain-report.ts';
import type { Change } from '../kube/reflector.ts';
import type { KubeObject } from '../kube/resources.ts';
import type { DrainOutcome, DrainRecord, DrainsStatus } from './api/types.ts';
// The label that ties a pod to its CounterService (desired/ sets it on the pod template).
import { COUNTER_SERVICE_LABEL } from './desired/labels.ts';

/** How many recent drains status keeps for people to read. */
export const recentDrainsKept = 10;

export interface PodLike extends KubeObject {
  spec?: {
    terminationGracePeriodSeconds?: number;
    containers?: Array<{ name: string; lifecycle?: { preStop?: { sleep?: { seconds?: number } } } }>;
  };
  status?: {
    phase?: string;
    containerStatuses?: Array<{
      name: string;
      state?: {
        terminated?: {
          exitCode?: number;
          signal?: number;
          reason?: string;
          message?: string;
          finishedAt?: string;
        };
      };
    }>;
  };
}

/**
 * The part of a pod drain observation reads. The pod cache exists only for drains, and a pod
 * object is several kilobytes (spec, probes, env, managedFields): a thousand CounterServices'
 * pods cost megabytes the operator never reads.
 */
export function trimPod(pod: PodLike): PodLike {
  const { name, namespace, uid, resourceVersion, labels, deletionTimestamp, deletionGracePeriodSeconds } =
    pod.metadata;
  return {
    apiVersion: pod.apiVersion,
    kind: pod.kind,
    metadata: {
      name,
      namespace,
      uid,
      resourceVersion,
      labels,
      deletionTimestamp,
      deletionGracePeriodSeconds,
    },
    spec: {
      terminationGracePeriodSeconds: pod.spec?.terminationGracePeriodSeconds,
      containers: pod.spec?.containers?.map((c) => ({ name: c.name, lifecycle: c.lifecycle })),
    },
    status: {
      phase: pod.status?.phase,
      containerStatuses: pod.status?.containerStatuses?.map((c) => ({ name: c.name, state: c.state })),
    },
  };
}

/** One observed drain: the record for status and the CounterService it belongs to. */
interface ObservedDrain {
  /** The CounterService key ("namespace/name"). */
  key: string;
  record: DrainRecord;
}

/**
 * The drain a pod reports, once the pod is being deleted and every container has terminated;
 * undefined before that (or for pods not of a CounterService). A container that exits while its pod
 * is not being deleted is a crash, which the Deployment handles; it is not a drain.
 */
export function drainOf(pod: PodLike): ObservedDrain | undefined {
  const owner = pod.metadata.labels?.[COUNTER_SERVICE_LABEL];
  if (!owner || !pod.metadata.deletionTimestamp) return undefined;
  const statuses = pod.status?.containerStatuses ?? [];
  if (statuses.length === 0 || !statuses.every((s) => s.state?.terminated)) return undefined;
  // The workload container is the one whose message parses; a pod has one container today.
  const reports = statuses.map((s) => ({
    status: s,
    report: parseTerminationReport(s.state?.terminated?.message),
  }));
  const chosen = reports.find((r) => r.report) ?? reports[0];
  const terminated = chosen?.status.state?.terminated ?? {};
  const report = chosen?.report;
  const exitCode = terminated.exitCode ?? report?.exitCode;
  const record: DrainRecord = {
    pod: pod.metadata.name ?? '',
    outcome: outcomeOf(exitCode, terminated, report),
  };
  // The API server sets a UID on every pod; a pod built without one falls back to name identity.
  if (pod.metadata.uid) record.podUID = pod.metadata.uid;
  if (terminated.finishedAt) record.finishedAt = terminated.finishedAt;
  if (exitCode !== undefined) record.exitCode = exitCode;
  if (terminated.reason) record.reason = terminated.reason.slice(0, 256);
  if (report?.drainMs !== undefined) record.drainSeconds = Math.round(report.drainMs) / 1000;
  else if (record.outcome === 'Killed') {
    // A killed process wrote no report; it had at least the time the kubelet granted after the
    // preStop hook: max(grace - preStop sleep, 2) seconds (pkg/kubelet/kuberuntime killContainer).
    // The grace is the pod's own terminationGracePeriodSeconds, the grace in force: not
    // deletionGracePeriodSeconds, which the kubelet's final DELETE (grace 0, once the containers
    // stopped) sets to 0 before the pod's last events are seen.
    const grace = pod.spec?.terminationGracePeriodSeconds ?? KUBERNETES_DEFAULT_GRACE_SECONDS;
    const container = pod.spec?.containers?.find((c) => c.name === chosen?.status.name);
    const preStop = container?.lifecycle?.preStop?.sleep?.seconds ?? 0;
    record.drainSeconds = Math.max(grace - preStop, 2);
  }
  if (report?.pendingAtSignal !== undefined) record.pendingAtSignal = Math.round(report.pendingAtSignal);
  // A crash report counts what was pending at the crash; nothing of it completes.
  else if (report?.pending !== undefined) record.pendingAtSignal = Math.round(report.pending);
  if (report?.completed !== undefined) record.completed = Math.round(report.completed);
  if (report?.abandoned !== undefined) record.abandoned = Math.round(report.abandoned);
  if (report?.crash !== undefined) {
    record.crash = `${report.crash}: ${report.reason ?? 'no reason given'}`.slice(0, 256);
  }
  return { key: `${pod.metadata.namespace}/${owner}`, record };
}

/** Kubernetes' default terminationGracePeriodSeconds, for a pod that does not set one. */
const KUBERNETES_DEFAULT_GRACE_SECONDS = 30;

/**
 * How a drain ended, from the container's exit code and the workload's report
 * (contracts/drain-report.ts):
 *  - Killed: SIGKILL (exit 137, the kubelet's at the end of the grace period) or the OOM killer.
 *    The only outcome a longer grace period can fix.
 *  - Crashed: the crash exit code or a crash report; or a failing exit with no report at all
 *    (Node's own exit 1 before the crash handler, a segfault).
 *  - Hard: exited at the signal without draining, as Hard mode does by design (or any process
 *    that dies of SIGTERM/SIGINT without a report).
 *  - Abandoned: the drain deadline passed and the report counts the increments given up (Redis
 *    unreachable, or work longer than the budget's deadline).
 *  - Clean: exit 0, nothing abandoned.
 */
function outcomeOf(
  exitCode: number | undefined,
  terminated: { signal?: number; reason?: string },
  report: ReportFields | undefined,
): DrainOutcome {
  if (exitCode === undefined) return 'Unknown';
  if (exitCode === SIGKILL_EXIT_CODE || terminated.signal === 9 || terminated.reason === 'OOMKilled') {
    return 'Killed';
  }
  if (exitCode === EXIT_CODES.crashed || report?.crash !== undefined) return 'Crashed';
  const diedOfSignal = exitCode === EXIT_CODES.hardSigterm || exitCode === EXIT_CODES.hardSigint;
  if (report?.mode === 'hard' || (report === undefined && diedOfSignal)) return 'Hard';
  if (report === undefined) return exitCode === EXIT_CODES.drained ? 'Clean' : 'Crashed';
  // The workload writes abandoned > 0 only with deadlinePassed; a report that says work was lost is
  // believed whatever the exit code.
  if (exitCode === EXIT_CODES.deadlinePassed || (report.abandoned ?? 0) > 0) return 'Abandoned';
  return exitCode === EXIT_CODES.drained ? 'Clean' : 'Crashed';
}

/**
 * Do two records describe the same pod? A pod's name is not its identity: a StatefulSet-like
 * controller, or a hand delete and re-create, gives the new pod the old name, but the API server
 * gives every pod object a new metadata.uid. So records are the same pod when their UIDs are equal.
 * A record written before podUID was recorded (or built without a UID) has only its name, and is
 * compared by name: counting a pod twice would corrupt the totals.
 */
function samePod(a: DrainRecord, b: DrainRecord): boolean {
  if (a.podUID && b.podUID) return a.podUID === b.podUID;
  return a.pod === b.pod;
}

/** The ledger's key of a record: its pod UID, or its name when it has none. */
function podIdentity(record: DrainRecord): string {
  return record.podUID ? `uid:${record.podUID}` : `name:${record.pod}`;
}

/** What addDrains needs besides the status and the new records. */
interface AddDrainsOptions {
  /** The recommended grace period for a longest drain (budget.ts recommendGracePeriodFor). */
  recommend: (longestDrainSeconds: number) => number;
  /**
   * Whether the pod with this UID still exists (DrainLedger.podExists). Only pods that still exist
   * can be seen again, so only their UIDs need remembering; without it every UID is kept until
   * the next drain is added.
   */
  podExists?: (uid: string) => boolean;
}

/** Outcomes whose drain time says something about the grace period a pod needs. */
const TIMED_OUTCOMES: ReadonlySet<DrainOutcome> = new Set(['Clean', 'Abandoned', 'Killed']);

/**
 * Adds new drain records to the drains status: counters per outcome, longest drain, the
 * recommendation and the recent list (newest first).
 *
 * A pod is counted once, however many drain at once: its UID stays in `countedPods` for as long
 * as the pod may be seen again (its DELETED event after the final status update, a relist after a
 * restart while it still exists), and a record whose UID is there is skipped. Records without a
 * UID (written before it was recorded) are recognised by name in `recent`. A new pod that reuses
 * an old name has a new UID and counts as a new drain.
 *
 * Hard and Crashed drains do not feed the longest drain: a Hard pod exits at SIGTERM by design
 * and a crash ends a drain at a random moment, so neither says how long a drain needs.
 */
export function addDrains(
  drains: DrainsStatus | undefined,
  records: readonly DrainRecord[],
  options: AddDrainsOptions,
): { drains: DrainsStatus; added: DrainRecord[] } {
  const next: DrainsStatus = {
    observed: drains?.observed ?? 0,
    clean: drains?.clean ?? 0,
    killed: drains?.killed ?? 0,
    abandoned: drains?.abandoned ?? 0,
    hard: drains?.hard ?? 0,
    crashed: drains?.crashed ?? 0,
    abandonedIncrements: drains?.abandonedIncrements ?? 0,
  };
  if (drains?.longestDrainSeconds !== undefined) next.longestDrainSeconds = drains.longestDrainSeconds;
  const counted = new Set(drains?.countedPods ?? []);
  let recent = [...(drains?.recent ?? [])];
  const added: DrainRecord[] = [];
  const ordered = [...records].sort((a, b) => compareTimes(a.finishedAt, b.finishedAt));
  for (const record of ordered) {
    if (record.podUID && counted.has(record.podUID)) continue;
    if (recent.some((r) => samePod(r, record)) || added.some((r) => samePod(r, record))) continue;
    added.push(record);
    if (record.podUID) counted.add(record.podUID);
    next.observed++;
    if (record.outcome === 'Clean') next.clean++;
    if (record.outcome === 'Killed') next.killed++;
    if (record.outcome === 'Abandoned') next.abandoned = (next.abandoned ?? 0) + 1;
    if (record.outcome === 'Hard') next.hard = (next.hard ?? 0) + 1;
    if (record.outcome === 'Crashed') next.crashed = (next.crashed ?? 0) + 1;
    next.abandonedIncrements += record.abandoned ?? 0;
    if (record.drainSeconds !== undefined && TIMED_OUTCOMES.has(record.outcome)) {
      next.longestDrainSeconds = Math.max(next.longestDrainSeconds ?? 0, record.drainSeconds);
    }
    recent = [record, ...recent];
  }
  recent = recent.slice(0, recentDrainsKept);
  if (recent.length > 0) next.recent = recent;
  // Forget the UIDs of pods that are gone only when something was added anyway: pruning alone is
  // not worth a status write, and a UID of a pod that is gone can never match again.
  const { podExists } = options;
  const kept = added.length > 0 && podExists ? [...counted].filter(podExists) : [...counted];
  if (kept.length > 0) next.countedPods = kept;
  if (next.longestDrainSeconds !== undefined) {
    next.recommendedGracePeriodSeconds = options.recommend(next.longestDrainSeconds);
  } else if (drains?.recommendedGracePeriodSeconds !== undefined) {
    next.recommendedGracePeriodSeconds = drains.recommendedGracePeriodSeconds;
  }
  return { drains: next, added };
}

function compareTimes(a: string | undefined, b: string | undefined): number {
  return (a ? Date.parse(a) : 0) - (b ? Date.parse(b) : 0);
}

/**
 * The event a recorded drain raises on its CounterService. Only a killed drain suggests a longer
 * grace period: it is the one outcome more time would have changed. Abandoned work points at what
 * held the increments (Redis, work longer than the deadline), a crash at the logs, Hard mode at
 * itself.
 */
export function drainEvent(record: DrainRecord): {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
} {
  const detail = [
    record.exitCode !== undefined ? `exit code ${record.exitCode}` : 'exit code unknown',
    record.reason ? `reason ${record.reason}` : undefined,
    record.drainSeconds !== undefined ? `drained for ${record.drainSeconds}s` : undefined,
    record.pendingAtSignal !== undefined ? `${record.pendingAtSignal} in flight at SIGTERM` : undefined,
    record.completed !== undefined ? `${record.completed} completed` : undefined,
    record.abandoned !== undefined ? `${record.abandoned} abandoned` : undefined,
  ]
    .filter(Boolean)
    .join(', ');
  const pod = `pod ${record.pod}`;
  switch (record.outcome) {
    case 'Killed':
      return {
        type: 'Warning',
        reason: 'DrainKilled',
        message: `${pod} was killed before it finished draining (${detail}); consider a longer grace period`,
      };
    case 'Abandoned':
      return {
        type: 'Warning',
        reason: 'DrainAbandonedWork',
        message:
          `${pod} gave up work at its drain deadline (${detail}); ` +
          'the increments could not be confirmed in time: check that Redis was reachable',
      };
    case 'Crashed':
      return {
        type: 'Warning',
        reason: 'DrainCrashed',
        message: `${pod} crashed (${record.crash ? `${record.crash}, ` : ''}${detail}); see its logs`,
      };
    case 'Hard':
      return {
        type: (record.abandoned ?? 0) > 0 ? 'Warning' : 'Normal',
        reason: 'HardExit',
        message: `${pod} exited at SIGTERM as Hard mode does, without draining (${detail})`,
      };
    case 'Clean':
      return { type: 'Normal', reason: 'Drained', message: `${pod} drained (${detail})` };
    default:
      return {
        type: 'Warning',
        reason: 'DrainUnknown',
        message: `${pod} ended, outcome unknown (${detail})`,
      };
  }
}

/**
 * Drains seen but not yet written to status, per CounterService. The pod watch feeds it; the
 * reconcile of the CounterService takes the pending records, writes them into status and, once the
 * write succeeded, settles them. A failed write leaves them pending for the retry. Replaying a pod
 * (a relist, a second event, another replica) is harmless: status dedupes.
 * It also knows which CounterService pods exist (every pod change passes here), so status need
 * only remember the counted pods that can still be seen again.
 */
export class DrainLedger {
  readonly #pending = new Map<string, Map<string, DrainRecord>>();
  readonly #existing = new Set<string>();

  /** Feeds a pod change; returns the CounterService key to reconcile when it completed a drain. */
  observe(change: Change<PodLike>): string | undefined {
    const uid = change.object.metadata.uid;
    if (uid) {
      if (change.type === 'deleted') this.#existing.delete(uid);
      else this.#existing.add(uid);
    }
    const drain = drainOf(change.object);
    if (!drain) return undefined;
    let pods = this.#pending.get(drain.key);
    if (!pods) {
      pods = new Map();
      this.#pending.set(drain.key, pods);
    }
    // A later observation of the same pod (final update, then DELETED) carries the same record.
    pods.set(podIdentity(drain.record), drain.record);
    return drain.key;
  }

  /** Whether a pod with this UID exists, as far as the pod watch has told. */
  readonly podExists = (uid: string): boolean => this.#existing.has(uid);

  pending(key: string): DrainRecord[] {
    return [...(this.#pending.get(key)?.values() ?? [])];
  }

  /** The records were written (or were already in status): forget them. */
  settle(key: string, records: readonly DrainRecord[]): void {
    const pods = this.#pending.get(key);
    if (!pods) return;
    for (const [identity, record] of pods) {
      if (records.some((r) => samePod(r, record))) pods.delete(identity);
    }
    if (pods.size === 0) this.#pending.delete(key);
  }

  /** The CounterService is gone: its pending drains have nowhere to go. */
  forget(key: string): void {
    this.#pending.delete(key);
  }
}
