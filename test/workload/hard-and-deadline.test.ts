import { expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { useFileRedis } from './file-redis.ts';
import { readCounter, sendIncrements, spawnWorkload } from './support.ts';

const redis = useFileRedis();

test('hard mode (the negative control) loses every pending increment at SIGTERM', async () => {
  const key = 'hard';
  const workload = await spawnWorkload({
    REDIS_URL: redis.url,
    COUNTER_KEY: key,
    // Far longer than sending n and signalling takes, so no increment is due before the SIGTERM.
    WORK_DELAY_MS: '5000',
    SHUTDOWN_MODE: 'hard',
  });
  const n = 100;
  await sendIncrements(workload.baseUrl, n);
  workload.signal('SIGTERM');
  const { code } = await workload.exited;
  // Gone at once with the code of a signal death (128 + SIGTERM), not after the work delay.
  expect(code).toBe(143);
  // The process is gone, so this count is final.
  expect(await readCounter(redis, key)).toBe(0);
  expect(workload.terminationMessage()).toEqual({
    mode: 'hard',
    pendingAtSignal: n,
    completed: 0,
    abandoned: n,
    drainMs: 0,
    exitCode: 143,
    acceptedDuringDrain: 0,
  });
});

test('a drain deadline shorter than the work: exit 1, the abandoned increments logged and in the summary', async () => {
  const key = 'deadline';
  const workload = await spawnWorkload({
    REDIS_URL: redis.url,
    COUNTER_KEY: key,
    // The late increments must all still be pending at the signal, however slowly they are sent.
    WORK_DELAY_MS: '4000',
    DRAIN_TIMEOUT_MS: '300',
  });
  const early = 30;
  await sendIncrements(workload.baseUrl, early);
  // Let the first increments land, then promise more that cannot finish within the deadline.
  await waitFor('the first increments counted', async () => (await readCounter(redis, key)) === early, {
    timeoutMs: 60_000,
    intervalMs: 20,
  });
  const late = 40;
  await sendIncrements(workload.baseUrl, late);

  workload.signal('SIGTERM');
  const { code } = await workload.exited;
  expect(code).toBe(1);

  const summary = workload.terminationMessage();
  const counted = await readCounter(redis, key);
  // Everything that was pending is either confirmed or reported abandoned; nothing is missing.
  expect(Number(summary.completed) + Number(summary.abandoned)).toBe(Number(summary.pendingAtSignal));
  expect(summary).toMatchObject({ mode: 'graceful', exitCode: 1, acceptedDuringDrain: 0 });
  expect(Number(summary.abandoned)).toBeGreaterThanOrEqual(late);
  expect(counted).toBe(early + late - Number(summary.abandoned));
  // Ended at the 300 ms deadline: not before it, and before the 4 s of work fell due (the late
  // increments are abandoned, above; the deadline's timer fires before the work's, however slowly).
  expect(Number(summary.drainMs)).toBeGreaterThanOrEqual(300);
  expect(Number(summary.drainMs)).toBeLessThan(4000);
  const logged = workload.logs.find((line) => line.msg === 'drain deadline passed, increments abandoned');
  expect(logged).toMatchObject({ abandoned: summary.abandoned, exitCode: 1 });
  expect(workload.logs.at(-1)).toMatchObject({ msg: 'exit', exitCode: 1 });
});
