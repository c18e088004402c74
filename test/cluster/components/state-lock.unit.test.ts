// withLock, the lock that serialises `up`/`down` on a state dir and allocations in the machine-wide
// network registry: holders never overlap, within one process or across processes, and a lock
// left by a dead process is taken over.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { statePaths, withLock } from '../../../cluster/components/state.ts';
import { waitFor } from '../../../kube/poll.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lastcall-lock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('withLock', () => {
  it('lets one holder in at a time among many concurrent callers in one process', async () => {
    const target = join(dir, 'state');
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 12 }, () =>
        withLock(
          target,
          () => {},
          async () => {
            inside++;
            most = Math.max(most, inside);
            await sleep(5);
            inside--;
          },
        ),
      ),
    );
    expect(most).toBe(1);
    expect(existsSync(statePaths(target).lock)).toBe(false);
  });

  it('lets one holder in at a time across processes', async () => {
    const target = join(dir, 'state');
    const journal = join(dir, 'journal');
    writeFileSync(journal, '');
    // Each child takes the lock 10 times and writes "enter"/"leave" lines to the journal inside
    // it; overlapping holders would interleave them.
    const script = `
      import { appendFileSync } from 'node:fs';
      import { setTimeout as sleep } from 'node:timers/promises';
      const { withLock } = await import(${JSON.stringify(new URL('../../../cluster/components/state.ts', import.meta.url).href)});
      for (let i = 0; i < 10; i++) {
        await withLock(${JSON.stringify(target)}, () => {}, async () => {
          appendFileSync(${JSON.stringify(journal)}, 'enter ' + process.pid + '\\n');
          await sleep(2);
          appendFileSync(${JSON.stringify(journal)}, 'leave ' + process.pid + '\\n');
        });
      }`;
    const children = Array.from({ length: 3 }, () => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
      return new Promise<number | null>((resolve) => child.on('close', resolve));
    });
    expect(await Promise.all(children)).toEqual([0, 0, 0]);
    const lines = readFileSync(journal, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(60);
    for (let i = 0; i < lines.length; i += 2) {
      const [enter, leave] = [lines[i] as string, lines[i + 1] as string];
      expect(enter.startsWith('enter ')).toBe(true);
      expect(leave).toBe(enter.replace('enter', 'leave'));
    }
  });

  it('takes over a lock whose owner is gone', async () => {
    const target = join(dir, 'state');
    // A real PID that no longer exists: a child that has exited and been reaped.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    }).stdout;
    writeFileSync(statePaths(target).lock, dead);
    let waitedFor: number | undefined;
    const result = await withLock(
      target,
      (owner) => {
        waitedFor = owner;
      },
      async () => 'taken',
    );
    expect(result).toBe('taken');
    expect(waitedFor).toBeUndefined();
    expect(existsSync(statePaths(target).lock)).toBe(false);
  });

  it('waits for a live owner and reports it once', async () => {
    const target = join(dir, 'state');
    writeFileSync(statePaths(target).lock, String(process.ppid));
    const waits: number[] = [];
    const taking = withLock(
      target,
      (owner) => waits.push(owner),
      async () => 'after',
    );
    // The lock is released (as its holder would) once the waiter has reported whom it waits for.
    await waitFor('the waiter to report the owner', () => waits.length > 0, {
      timeoutMs: 20_000,
      intervalMs: 10,
    });
    expect(waits).toEqual([process.ppid]);
    rmSync(statePaths(target).lock);
    expect(await taking).toBe('after');
    expect(waits).toEqual([process.ppid]);
  });
});
