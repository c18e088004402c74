// The drain report: the contract between the workload, which writes it as its container's
// termination message and picks its exit code (workload/main.ts, workload/crash.ts), and the
// operator, which reads both from the pod's final container status and classifies the drain
// (operator/drains.ts). test/workload/drain-report-contract.test.ts runs the real workload on each
// exit path and feeds what it wrote to the operator's classifier.
//
// The kubelet copies the file at terminationMessagePath into
// status.containerStatuses[].state.terminated.message, keeping at most 4096 bytes, and reports the
// process's exit code (128 + n for a death by signal n). Import-free on purpose: both images carry
// it unchanged.

/** Exit codes the workload uses, one per way a drain ends. */
export const EXIT_CODES = {
  /** Every pending increment was confirmed before the deadline. */
  drained: 0,
  /** The drain deadline passed: the increments still pending were abandoned (counted in the report). */
  deadlinePassed: 1,
  /** Refused configuration at start-up (a line names the variable); no report. */
  invalidConfig: 2,
  /** An uncaught exception or unhandled rejection (EX_SOFTWARE of sysexits.h): a crash report. */
  crashed: 70,
  /** Hard mode at SIGTERM: exits at once, like a death by SIGTERM (128 + 15). */
  hardSigterm: 143,
  /** Hard mode at SIGINT (128 + 2). */
  hardSigint: 130,
} as const;

/**
 * Exit code of a process killed by SIGKILL (128 + 9): the kubelet's at the end of the grace period,
 * or the OOM killer's. The workload never chooses it.
 */
export const SIGKILL_EXIT_CODE = 137;

/** The kubelet keeps at most this many bytes of a termination message. */
export const TERMINATION_MESSAGE_MAX_BYTES = 4096;

export type ReportMode = 'graceful' | 'hard';

/** Written when a drain ends: exit codes drained, deadlinePassed, hardSigterm, hardSigint. */
export interface DrainReport {
  mode: ReportMode;
  /** Increments promised and not yet confirmed when the signal arrived. */
  pendingAtSignal: number;
  /** Increments confirmed by Redis between the signal and the exit. */
  completed: number;
  /** Increments not confirmed when the process gave up (deadline passed, or hard mode): lost. */
  abandoned: number;
  /** Milliseconds from the signal to the exit decision (0 in hard mode). */
  drainMs: number;
  exitCode: number;
  /** Increments accepted after the signal (during SHUTDOWN_DELAY_MS or on open keep-alive sockets). */
  acceptedDuringDrain: number;
}

const CRASH_KINDS = ['uncaughtException', 'unhandledRejection'] as const;
type CrashKind = (typeof CRASH_KINDS)[number];

/** Written when the process crashes (exit code crashed), while serving or in the middle of a drain. */
interface CrashReport {
  mode: ReportMode;
  crash: CrashKind;
  /** The error's message, cut to CRASH_REASON_MAX_CHARS. */
  reason: string;
  /** Increments promised and not confirmed at the crash: none of them will be. */
  pending: number;
  /** Same as pending: everything pending is lost with the process. */
  abandoned: number;
  /** True when the crash interrupted a drain (the signal had arrived). */
  draining: boolean;
  exitCode: number;
}

export type TerminationReport = DrainReport | CrashReport;

/** Keeps the crash report far below the kubelet's 4096-byte limit, whatever the error says. */
export const CRASH_REASON_MAX_CHARS = 512;

// The only ways to build a report: the workload uses them, and so do test fixtures, so a fixture
// cannot describe a combination the workload never writes (e.g. exit 0 with work abandoned).

/** A graceful drain: drained when it finished within the deadline, else deadlinePassed. */
export function gracefulDrainReport(drain: {
  /** Every open request and pending increment finished before the deadline. */
  finished: boolean;
  pendingAtSignal: number;
  completed: number;
  /** What was given up at the deadline (0 when finished). */
  abandoned: number;
  drainMs: number;
  acceptedDuringDrain: number;
}): DrainReport {
  const { finished, ...counts } = drain;
  if (finished && counts.abandoned > 0) {
    throw new RangeError(`abandoned=${counts.abandoned}: a drain that finished abandoned nothing`);
  }
  return {
    mode: 'graceful',
    pendingAtSignal: counts.pendingAtSignal,
    completed: counts.completed,
    abandoned: counts.abandoned,
    drainMs: counts.drainMs,
    exitCode: finished ? EXIT_CODES.drained : EXIT_CODES.deadlinePassed,
    acceptedDuringDrain: counts.acceptedDuringDrain,
  };
}

/** Hard mode at the signal: everything pending is abandoned, at once. */
export function hardExitReport(pendingAtSignal: number, signal: 'SIGTERM' | 'SIGINT'): DrainReport {
  return {
    mode: 'hard',
    pendingAtSignal,
    completed: 0,
    abandoned: pendingAtSignal,
    drainMs: 0,
    exitCode: signal === 'SIGINT' ? EXIT_CODES.hardSigint : EXIT_CODES.hardSigterm,
    acceptedDuringDrain: 0,
  };
}

/** A crash: everything pending is abandoned; the reason is cut to CRASH_REASON_MAX_CHARS. */
export function crashReport(crash: {
  mode: ReportMode;
  kind: CrashKind;
  reason: string;
  pending: number;
  draining: boolean;
}): CrashReport {
  return {
    mode: crash.mode,
    crash: crash.kind,
    reason: crash.reason.slice(0, CRASH_REASON_MAX_CHARS),
    pending: crash.pending,
    abandoned: crash.pending,
    draining: crash.draining,
    exitCode: EXIT_CODES.crashed,
  };
}

/** The report as a termination message. */
export function formatTerminationReport(report: TerminationReport): string {
  return JSON.stringify(report);
}

/**
 * What a reader can trust of a termination message: each field of either report whose value has
 * the right type. A message that is not a JSON object (another program's text, a message cut by
 * the kubelet) gives undefined.
 */
export interface ReportFields {
  mode?: ReportMode;
  pendingAtSignal?: number;
  completed?: number;
  abandoned?: number;
  drainMs?: number;
  exitCode?: number;
  acceptedDuringDrain?: number;
  crash?: CrashKind;
  reason?: string;
  pending?: number;
  draining?: boolean;
}

const COUNT_FIELDS = [
  'pendingAtSignal',
  'completed',
  'abandoned',
  'drainMs',
  'exitCode',
  'acceptedDuringDrain',
  'pending',
] as const;

export function parseTerminationReport(text: string | undefined): ReportFields | undefined {
  if (!text?.trim()) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const raw = parsed as Record<string, unknown>;
  const report: ReportFields = {};
  if (raw.mode === 'graceful' || raw.mode === 'hard') report.mode = raw.mode;
  for (const field of COUNT_FIELDS) {
    const value = raw[field];
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0) report[field] = value;
  }
  if (CRASH_KINDS.some((kind) => kind === raw.crash)) report.crash = raw.crash as CrashKind;
  if (typeof raw.reason === 'string') report.reason = raw.reason.slice(0, CRASH_REASON_MAX_CHARS);
  if (typeof raw.draining === 'boolean') report.draining = raw.draining;
  return Object.keys(report).length > 0 ? report : undefined;
}
