// Fast tests of process-group handling with real, short-lived processes (no cluster).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  isAlive,
  liveProcessGroups,
  logTail,
  startDaemon,
  stopGroups,
} from '../../../cluster/components/daemon.ts';
import { waitFor } from '../../../kube/poll.ts';
import { tempDirsOfFile } from '../../support/temp-dirs.ts';

const dir = tempDirsOfFile()('lastcall-daemon-');

async function waitForLog(file: string, text: string): Promise<void> {
  await waitFor(
    `${file} to contain ${text}`,
    async () => ((await readFile(file, 'utf8')).includes(text) ? true : undefined),
    { timeoutMs: 20_000, intervalMs: 100 },
  );
}

describe('daemons', () => {
  it('runs in its own process group, logs to its file, and stops on SIGTERM with its children', async () => {
    const log = join(dir, 'polite.log');
    const daemon = await startDaemon(
      { name: 'polite', command: 'sh', args: ['-c', 'echo started; sleep 100 & wait'], endpoint: '-' },
      log,
    );
    await waitForLog(log, 'started');
    expect(await isAlive(daemon.record)).toBe(true);
    expect((await liveProcessGroups()).has(daemon.record.pid)).toBe(true);

    const killed = await stopGroups([{ name: 'polite', pgid: daemon.record.pid }], 5000);
    expect(killed).toEqual([]);
    // The background `sleep` was in the same group and is gone too.
    expect((await liveProcessGroups()).has(daemon.record.pid)).toBe(false);
    expect(await isAlive(daemon.record)).toBe(false);
    expect(await logTail(log)).toBe('started');
  });

  it('kills a group that ignores SIGTERM once the grace period is over', async () => {
    const log = join(dir, 'stubborn.log');
    const daemon = await startDaemon(
      {
        name: 'stubborn',
        command: 'sh',
        args: ['-c', 'trap "" TERM; echo trapped; while :; do sleep 1; done'],
        endpoint: '-',
      },
      log,
    );
    await waitForLog(log, 'trapped');
    const begin = Date.now();
    const killed = await stopGroups([{ name: 'stubborn', pgid: daemon.record.pid }], 800);
    // SIGKILL, and not before the 800 ms grace period (how long after it depends on the machine).
    expect(killed).toEqual(['stubborn']);
    expect(Date.now() - begin).toBeGreaterThanOrEqual(790);
    expect((await liveProcessGroups()).has(daemon.record.pid)).toBe(false);
  });

  it('leaves a PID alone that now belongs to another process (start time differs)', async () => {
    const log = join(dir, 'other.log');
    const daemon = await startDaemon({ name: 'other', command: 'sleep', args: ['100'], endpoint: '-' }, log);
    const stale = { name: 'stale', pgid: daemon.record.pid, startTime: '1' };
    expect(await isAlive({ pid: daemon.record.pid, startTime: '1' })).toBe(false);
    await stopGroups([stale], 200);
    expect(existsSync(`/proc/${daemon.record.pid}`)).toBe(true);
    await stopGroups([{ name: 'other', pgid: daemon.record.pid, startTime: daemon.record.startTime }], 2000);
    expect(await isAlive(daemon.record)).toBe(false);
  });
});
