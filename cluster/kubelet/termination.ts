import { constants } from 'node:os';

/**
 * The arithmetic of a container kill, as in the kubelet's killContainer
 * (pkg/kubelet/kuberuntime/kuberuntime_container.go):
 *   grace = deletionGracePeriodSeconds (pod deletion) | probe.terminationGracePeriodSeconds
 *           (liveness/startup failure) | spec.terminationGracePeriodSeconds | 30
 *   if preStop && grace > 0: run preStop bounded by grace; grace -= whole seconds it took
 *   grace = max(grace, 2)            // minimumGracePeriodInSeconds
 *   stop signal, wait up to grace, SIGKILL.
 */
export const MINIMUM_GRACE_PERIOD_SECONDS = 2;
const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30;

interface GraceInputs {
  deletionGracePeriodSeconds?: number | undefined;
  terminationGracePeriodSeconds?: number | undefined;
  probeTerminationGracePeriodSeconds?: number | undefined;
}

export type KillReason = 'deletion' | 'probe' | 'restart';

export function gracePeriodSeconds(reason: KillReason, g: GraceInputs): number {
  if (reason === 'deletion' && g.deletionGracePeriodSeconds !== undefined)
    return g.deletionGracePeriodSeconds;
  if (reason === 'probe' && g.probeTerminationGracePeriodSeconds !== undefined) {
    return g.probeTerminationGracePeriodSeconds;
  }
  return g.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS;
}

/**
 * Seconds between the stop signal and SIGKILL, given the grace and how long the preStop hook took.
 * The kubelet subtracts the hook's duration truncated to whole seconds
 * (`int64(metav1.Now().Sub(start.Time).Seconds())`), then floors the result at 2 s.
 */
export function stopWindowSeconds(grace: number, hookElapsedMs: number | undefined): number {
  const used = hookElapsedMs === undefined ? 0 : Math.trunc(hookElapsedMs / 1000);
  return Math.max(grace - used, MINIMUM_GRACE_PERIOD_SECONDS);
}

/** Whether the preStop hook runs at all: only when there is one and grace > 0. */
export function runsPreStop(hasPreStop: boolean, grace: number): boolean {
  return hasPreStop && grace > 0;
}

interface ExitStatus {
  exitCode: number;
  signal: string | null;
  reason: 'Completed' | 'Error';
}

/** A process killed by signal N reports 128+N, as a container runtime does (SIGKILL -> 137). */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): ExitStatus {
  if (signal) {
    const n = constants.signals[signal] ?? 9;
    return { exitCode: 128 + n, signal, reason: 'Error' };
  }
  const exitCode = code ?? 0;
  return { exitCode, signal: null, reason: exitCode === 0 ? 'Completed' : 'Error' };
}

/** lifecycle.stopSignal (Kubernetes 1.33+, ContainerStopSignals) or SIGTERM. */
export function stopSignal(lifecycleStopSignal: string | undefined): NodeJS.Signals {
  if (!lifecycleStopSignal) return 'SIGTERM';
  const name = lifecycleStopSignal.startsWith('SIG') ? lifecycleStopSignal : `SIG${lifecycleStopSignal}`;
  if (!(name in constants.signals)) {
    throw new Error(`lifecycle.stopSignal "${lifecycleStopSignal}" is not a signal this machine knows`);
  }
  return name as NodeJS.Signals;
}

/** Termination message policy FallbackToLogsOnError: the log tail when the file is empty and the exit failed. */
export function terminationMessage(
  fileContent: string,
  policy: string | undefined,
  exitCode: number,
  logTail: () => string,
): string {
  const fromFile = fileContent.slice(0, 4096);
  if (fromFile.length > 0) return fromFile;
  if (policy === 'FallbackToLogsOnError' && exitCode !== 0) return logTail().slice(-2048);
  return '';
}
