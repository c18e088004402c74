import { expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { useFileRedis } from './file-redis.ts';
import { readCounter, sendIncrements, spawnWorkload, startLossyProxy, waitUntilReady } from './support.ts';

// Durable (AOF, fsync always): the restart must not lose what Redis confirmed.
const redis = useFileRedis({ durable: true });

test('Redis killed and restarted in the middle of a drain: the counter still ends at exactly N', async () => {
  const key = 'restart';
  // The work falls due well after Redis is killed, however long signalling and killing take.
  const workload = await spawnWorkload({ REDIS_URL: redis.url, COUNTER_KEY: key, WORK_DELAY_MS: '3000' });
  await waitUntilReady(workload);
  const n = 150;
  await sendIncrements(workload.baseUrl, n);

  workload.signal('SIGTERM');
  await workload.waitForLog('signal received');
  await redis.kill();
  // The increments fall due while Redis is down: they fail and are retried with backoff.
  await workload.waitForLog('increment failed, retrying', 15_000);
  await redis.start();

  const { code } = await workload.exited;
  expect(code).toBe(0);
  expect(await readCounter(redis, key)).toBe(n);
  expect(workload.terminationMessage()).toMatchObject({
    pendingAtSignal: n,
    completed: n,
    abandoned: 0,
    exitCode: 0,
  });
  expect(workload.logs.some((line) => line.msg === 'increment succeeded after retries')).toBe(true);
});

test('a reply lost after Redis applied a batch: the re-sent batch is not counted twice', async () => {
  const key = 'lost-reply';
  const proxy = await startLossyProxy(redis.port);
  try {
    const workload = await spawnWorkload({ REDIS_URL: proxy.url, COUNTER_KEY: key, WORK_DELAY_MS: '300' });
    await waitUntilReady(workload);
    // One increment first, so Redis has the script cached and the next EVALSHA really applies
    // (rather than answering NOSCRIPT).
    await sendIncrements(workload.baseUrl, 1);
    await waitFor('the first increment counted', async () => (await readCounter(redis, key)) === 1, {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    // The next increment script to pass the proxy is applied by Redis, its reply swallowed and the
    // connection cut: ioredis reconnects and the same batch goes out again.
    proxy.arm('evalsha');
    const n = 51;
    await sendIncrements(workload.baseUrl, n - 1, 1);
    await waitFor('a swallowed reply', () => proxy.lostReplies === 1, { timeoutMs: 30_000, intervalMs: 20 });

    workload.signal('SIGTERM');
    expect((await workload.exited).code).toBe(0);
    expect(await readCounter(redis, key)).toBe(n);
    expect(workload.terminationMessage()).toMatchObject({ abandoned: 0, exitCode: 0 });
    expect(workload.logs).toContainEqual(
      expect.objectContaining({ msg: 're-sent increments were already applied; not counted twice' }),
    );
  } finally {
    await proxy.close();
  }
});

test('replies lost three times in a row while requests keep coming: every increment counted once', async () => {
  const key = 'lost-replies';
  const proxy = await startLossyProxy(redis.port);
  try {
    const workload = await spawnWorkload({ REDIS_URL: proxy.url, COUNTER_KEY: key, WORK_DELAY_MS: '200' });
    await waitUntilReady(workload);
    await sendIncrements(workload.baseUrl, 1);
    await waitFor('the first increment counted', async () => (await readCounter(redis, key)) === 1, {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    // Each copy of the next batch reaches Redis and loses its reply with its connection; the
    // re-sent copies (ioredis after the reconnect, the workload's own retry) must not add again,
    // and the increments falling due meanwhile must wait for that batch, then count once.
    proxy.arm('evalsha', { times: 3 });
    const n = 200;
    await sendIncrements(workload.baseUrl, n - 1, 5);
    await waitFor('three lost replies', () => proxy.lostReplies === 3, { timeoutMs: 60_000, intervalMs: 20 });

    workload.signal('SIGTERM');
    expect((await workload.exited).code).toBe(0);
    expect(await readCounter(redis, key)).toBe(n);
    expect(workload.terminationMessage()).toMatchObject({ abandoned: 0, exitCode: 0 });
    expect(workload.logs).toContainEqual(
      expect.objectContaining({ msg: 're-sent increments were already applied; not counted twice' }),
    );
  } finally {
    await proxy.close();
  }
});

test('a reply later than the client timeout: the retried batch finds it applied and adds nothing', async () => {
  const key = 'late-reply';
  const proxy = await startLossyProxy(redis.port);
  try {
    const workload = await spawnWorkload({ REDIS_URL: proxy.url, COUNTER_KEY: key, WORK_DELAY_MS: '100' });
    await waitUntilReady(workload);
    await sendIncrements(workload.baseUrl, 1);
    await waitFor('the first increment counted', async () => (await readCounter(redis, key)) === 1, {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    // Held past the workload's 5 s command timeout: the workload gives up on the batch and sends
    // it again on the same connection, behind the first copy, which Redis has applied.
    proxy.arm('evalsha', { mode: 'delay', delayMs: 6500 });
    const n = 21;
    await sendIncrements(workload.baseUrl, n - 1, 1);
    await workload.waitForLog('increment failed, retrying', 15_000);
    await workload.waitForLog('re-sent increments were already applied; not counted twice', 15_000);

    workload.signal('SIGTERM');
    expect((await workload.exited).code).toBe(0);
    expect(await readCounter(redis, key)).toBe(n);
    expect(workload.terminationMessage()).toMatchObject({ abandoned: 0, exitCode: 0 });
  } finally {
    await proxy.close();
  }
});

test('a full Redis (maxmemory, noeviction) refuses the batch as a whole; it lands once there is room', async () => {
  const key = 'full';
  const workload = await spawnWorkload({ REDIS_URL: redis.url, COUNTER_KEY: key, WORK_DELAY_MS: '100' });
  await waitUntilReady(workload);
  await sendIncrements(workload.baseUrl, 5);
  await waitFor('the first increments counted', async () => (await readCounter(redis, key)) === 5, {
    timeoutMs: 10_000,
    intervalMs: 20,
  });
  const used = Number((await redis.client.info('memory')).match(/^used_memory:(\d+)/m)?.[1]);
  try {
    // Below what Redis already uses: every write is refused with OOM, none is evicted.
    await redis.client.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.client.config('SET', 'maxmemory', String(used - 100_000));
    await sendIncrements(workload.baseUrl, 30);
    await workload.waitForLog(
      (line) => line.msg === 'increment failed, retrying' && String(line.err).startsWith('OOM'),
      15_000,
    );
    // The script's first write (INCRBY) is refused: nothing of the batch was applied.
    expect(await readCounter(redis, key)).toBe(5);
  } finally {
    await redis.client.config('SET', 'maxmemory', '0');
  }
  await waitFor(
    'the refused increments after room came back',
    async () => (await readCounter(redis, key)) === 35,
    {
      timeoutMs: 15_000,
      intervalMs: 20,
    },
  );
  workload.signal('SIGTERM');
  expect((await workload.exited).code).toBe(0);
  expect(await readCounter(redis, key)).toBe(35);
});
