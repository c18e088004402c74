// The crash path: an uncaught exception or an unhandled promise rejection ends the process, but
// not silently. Without a handler Node prints the stack and exits 1, which the operator would read
// as "drain deadline passed" with no report; and every pending increment would vanish uncounted.
// Here the process writes what it still knows (pending increments, the error) as its termination
// message and exits with the contract's crash code (contracts/drain-report.ts).
//
// It does not try to finish the pending work: after an uncaught error the process state is
// unknown (Node's documentation: "it is not safe to resume normal operation"). Nothing pending can
// survive a crash; only the report of how much was lost can.
import type { Logger } from 'pino';
import { crashReport, EXIT_CODES, type ReportMode } from '../contracts/drain-report.ts';
import type { TestCrashTrigger } from '../contracts/workload-env.ts';
import { writeTerminationMessage } from './termination.ts';

interface CrashContext {
  mode: ReportMode;
  terminationMessagePath: string;
  logger: Logger;
  /** Increments promised and not yet confirmed, read at the crash. */
  pending(): number;
  /** Whether the drain had started (a signal arrived) when the crash came. */
  draining(): boolean;
}

/**
 * Installs the process-wide crash handler. One listener covers both kinds: with an
 * 'uncaughtException' listener and Node's default --unhandled-rejections=throw, an unhandled
 * rejection arrives there too, with origin 'unhandledRejection'.
 */
export function installCrashHandler(context: CrashContext): void {
  let crashing = false;
  process.on('uncaughtException', (error, origin) => {
    // A second error while the first is reported: the exit is already under way.
    if (crashing) return;
    crashing = true;
    try {
      const report = crashReport({
        mode: context.mode,
        kind: origin === 'unhandledRejection' ? 'unhandledRejection' : 'uncaughtException',
        reason: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        pending: readOr(context.pending, 0),
        draining: readOr(context.draining, false),
      });
      writeTerminationMessage(context.terminationMessagePath, report, context.logger);
      context.logger.fatal(
        { ...report, stack: error instanceof Error ? error.stack : undefined },
        'crashed: pending increments are lost',
      );
      context.logger.info({ exitCode: report.exitCode }, 'exit');
      context.logger.flush();
    } finally {
      process.exit(EXIT_CODES.crashed);
    }
  });
}

/** The state at the crash may itself be broken: a failing read must not cost the report. */
function readOr<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/**
 * Tests only (LASTCALL_TEST_CRASH): SIGUSR2 throws an uncaught exception or leaves a rejected
 * promise unhandled, so a test can crash a real process at a moment it chooses (with increments
 * pending, during a drain). Unset in production: no listener, SIGUSR2 keeps Node's default.
 */
export function armTestCrash(trigger: TestCrashTrigger | undefined, logger: Logger): void {
  if (trigger === undefined) return;
  logger.warn({ trigger }, 'test crash armed: SIGUSR2 crashes the process (LASTCALL_TEST_CRASH)');
  process.on('SIGUSR2', () => {
    const error = new Error(`test crash (LASTCALL_TEST_CRASH=${trigger})`);
    if (trigger === 'exception') throw error;
    void Promise.reject(error);
  });
}
