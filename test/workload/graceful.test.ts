import { expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { RETIRED_WRITER_TTL_MS, writerRecordKey } from '../../workload/counter.ts';
import { useFileRedis } from './file-redis.ts';
import { readCounter, sendIncrements, spawnWorkload, startRedis, waitUntilReady } from './support.ts';

const redis = useFileRedis();

test('N increments pending at SIGTERM: the counter ends at exactly N, exit 0, the summary says so', async () => {
  const key = 'graceful-n';
  const workload = await spawnWorkload({
    REDIS_URL: redis.url,
    COUNTER_KEY: key,
    // Long enough that all n answers (and the read of the counter) come before any work falls due,
    // even on a loaded machine; the default deadline is then 3 s + 5 s.
    WORK_DELAY_MS: '3000',
    LASTCALL_IMAGE: 'lastcall/workload:v1',
  });
  await waitUntilReady(workload);
  const health = (await (await fetch(`${workload.baseUrl}/healthz`)).json()) as Record<string, unknown>;
  expect(health).toMatchObject({ image: 'lastcall/workload:v1', mode: 'graceful', phase: 'serving' });

  const n = 200;
  const ids = await sendIncrements(workload.baseUrl, n);
  expect(new Set(ids).size).toBe(n);
  // Every answer came before its work: nothing is counted yet.
  expect(await readCounter(redis, key)).toBe(0);

  const signalledAt = Date.now();
  workload.signal('SIGTERM');
  await workload.waitForLog('signal received');
  // A second signal during the drain is logged and changes nothing.
  workload.signal('SIGTERM');
  await workload.waitForLog('signal ignored: already draining');

  const { code } = await workload.exited;
  const elapsed = Date.now() - signalledAt;
  expect(code).toBe(0);
  expect(await readCounter(redis, key)).toBe(n);

  const summary = workload.terminationMessage();
  expect(summary).toEqual({
    mode: 'graceful',
    pendingAtSignal: n,
    completed: n,
    abandoned: 0,
    drainMs: expect.any(Number),
    exitCode: 0,
    acceptedDuringDrain: 0,
  });
  // The drain ended when the work was done (up to 3 s left), not at its 8 s deadline (3 s + 5 s):
  // a deadline timer never fires early, so a drain that waited for it would report >= 8000.
  expect(summary.drainMs).toBeLessThan(8000);
  // Measured by the workload inside what the test saw, from the signal to the exit.
  expect(summary.drainMs).toBeLessThan(elapsed + 50);
  expect(workload.logs.find((line) => line.msg === 'drained')).toMatchObject(summary);
  // The writer's record was retired on the way out: it expires within minutes, not after a day, so
  // records of pods replaced by rollouts do not pile up in Redis (the soak run found them piling:
  // the PEXPIRE waited for the auto-pipeline while QUIT went out at once, and never ran).
  const writerId = String(workload.logs.find((line) => line.msg === 'started')?.writerId);
  const ttl = await redis.client.pttl(writerRecordKey(key, writerId));
  expect(ttl).toBeGreaterThan(0);
  expect(ttl).toBeLessThanOrEqual(RETIRED_WRITER_TTL_MS);
  // The exit line is the last one and survived process.exit() (synchronous logging).
  expect(workload.logs.at(-1)).toMatchObject({ msg: 'exit', exitCode: 0 });
  // Apart from the second signal, a clean drain has nothing to warn about (closing Redis is no outage).
  const warnings = workload.logs.filter((line) => line.level >= 40).map((line) => line.msg);
  expect(warnings).toEqual(['signal ignored: already draining']);
});

test('/count reads the counter from Redis and /metrics shows the pending increments', async () => {
  const key = 'graceful-count';
  await redis.client.set(key, '41');
  const workload = await spawnWorkload({ REDIS_URL: redis.url, COUNTER_KEY: key, WORK_DELAY_MS: '60000' });
  await sendIncrements(workload.baseUrl, 3);
  expect(await (await fetch(`${workload.baseUrl}/count`)).json()).toEqual({ key, value: 41 });
  const metrics = await (await fetch(`${workload.baseUrl}/metrics`)).text();
  expect(metrics).toMatch(/^lastcall_workload_pending_increments 3$/m);
  expect(metrics).toMatch(/^lastcall_workload_requests_total\{route="incr"\} 3$/m);
  const head = await fetch(`${workload.baseUrl}/incr`, { method: 'HEAD' });
  expect(head.status).toBe(405);
  const withQuery = await fetch(`${workload.baseUrl}/incr?source=test`);
  expect(await withQuery.json()).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  expect(await (await fetch(`${workload.baseUrl}/metrics`)).text()).toMatch(
    /^lastcall_workload_pending_increments 4$/m,
  );
  const post = await fetch(`${workload.baseUrl}/incr`, { method: 'POST' });
  expect(post.status).toBe(200);
  expect(await post.json()).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
});

test('REDIS_PASSWORD authenticates; an unwritable termination message path is only a warning', async () => {
  const secured = await startRedis({ password: 's3cret pass' });
  try {
    const workload = await spawnWorkload({
      REDIS_URL: secured.url,
      REDIS_PASSWORD: 's3cret pass',
      WORK_DELAY_MS: '200',
      TERMINATION_MESSAGE_PATH: '/nonexistent-dir/termination-log',
    });
    await waitUntilReady(workload);
    await sendIncrements(workload.baseUrl, 5);
    workload.signal('SIGINT');
    expect((await workload.exited).code).toBe(0);
    expect(await readCounter(secured)).toBe(5);
    expect(workload.logs).toContainEqual(
      expect.objectContaining({ msg: 'termination message not written (path not writable)' }),
    );
    expect(workload.logs.find((line) => line.msg === 'drained')).toMatchObject({ completed: 5, exitCode: 0 });
    expect(JSON.stringify(workload.logs)).not.toContain('s3cret');
  } finally {
    await secured.stop();
  }
});

test('Redis down at start: not ready, increments wait and land once Redis is up', async () => {
  const late = await startRedis();
  await late.kill();
  try {
    const workload = await spawnWorkload({ REDIS_URL: late.url, WORK_DELAY_MS: '100' });
    const notReady = await fetch(`${workload.baseUrl}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ ready: false, reason: 'Redis has not answered yet' });
    await sendIncrements(workload.baseUrl, 7);
    await workload.waitForLog('increment failed, retrying');
    await late.start();
    await waitUntilReady(workload);
    await waitFor('7 counted', async () => (await readCounter(late)) === 7, {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    workload.signal('SIGTERM');
    expect((await workload.exited).code).toBe(0);
  } finally {
    await late.stop();
  }
});
