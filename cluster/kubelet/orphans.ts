import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Process groups recorded under <state-dir>/pids (one file per live container or exec process,
 * named by its PID = process group id). After a kubelet crash these are orphans: the next kubelet
 * start, and `down`, kill them by process group.
 */
export function killRecordedProcessGroups(pidDir: string): { killed: number[] } {
  mkdirSync(pidDir, { recursive: true });
  const killed: number[] = [];
  for (const name of readdirSync(pidDir)) {
    const file = join(pidDir, name);
    let pgid = Number(name);
    try {
      pgid = JSON.parse(readFileSync(file, 'utf8')).pgid ?? pgid;
    } catch {}
    if (Number.isInteger(pgid) && pgid > 1) {
      try {
        process.kill(-pgid, 'SIGKILL');
        killed.push(pgid);
      } catch {
        // already gone
      }
    }
    rmSync(file, { force: true });
  }
  return { killed };
}
