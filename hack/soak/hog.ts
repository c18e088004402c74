/**
 * A CPU hog: one child process that spins on one core until it is stopped,
 * to make the machine as busy as a shared CI runner. Started and stopped by
 * its PID, never by name.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';

export interface CpuHog {
  readonly pid: number;
  stop(): Promise<void>;
}

export async function startCpuHog(): Promise<CpuHog> {
  const child = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const pid = child.pid as number;
  const exited = once(child, 'exit');
  return {
    pid,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(pid, 'SIGKILL');
      await exited;
    },
  };
}
