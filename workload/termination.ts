import { writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { DrainSummary } from './drain.ts';

/**
 * Writes the drain summary where the kubelet reads the container's termination message
 * (`terminationMessagePath`, default /dev/termination-log): it then shows up in the pod's
 * `status.containerStatuses[].state.terminated.message`, where the operator reads it. The kubelet
 * keeps at most 4096 bytes; the summary is far below that. Outside a pod the file may be
 * unwritable: that is only worth a warning, the summary is in the log as well.
 */
export function writeTerminationMessage(path: string, summary: DrainSummary, logger: Logger): void {
  try {
    writeFileSync(path, JSON.stringify(summary));
  } catch (error) {
    logger.warn(
      { path, err: error instanceof Error ? error.message : String(error) },
      'termination message not written (path not writable)',
    );
  }
}
