import { writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { formatTerminationReport, type TerminationReport } from '../contracts/drain-report.ts';

/**
 * Writes the drain or crash report where the kubelet reads the container's termination message
 * (`terminationMessagePath`, default /dev/termination-log): it then shows up in the pod's
 * `status.containerStatuses[].state.terminated.message`, where the operator reads it
 * (contracts/drain-report.ts). The kubelet keeps at most 4096 bytes; the report is far below that.
 * Outside a pod the file may be unwritable: that is only worth a warning, the report is in the log
 * as well. Synchronous: it runs right before process.exit(), also on the crash path.
 */
export function writeTerminationMessage(path: string, report: TerminationReport, logger: Logger): void {
  try {
    writeFileSync(path, formatTerminationReport(report));
  } catch (error) {
    logger.warn(
      { path, err: error instanceof Error ? error.message : String(error) },
      'termination message not written (path not writable)',
    );
  }
}
