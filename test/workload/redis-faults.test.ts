import { expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { useFileRedis } from './file-redis.ts';
import {
  type LossyProxy,
  readCounter,
  sendIncrements,
  spawnWorkload,
  startLossyProxy,
  type WorkloadHandle,
  waitUntilReady,
} from './support.ts';

// Durable (AOF, fsync always): the restart must not lose what Redis confirmed.
const redis = useFileRedis({ durable: true });

const RESENT_NOT_COUNTED = 're-sent increments were already applied; not counted twice';

/** The workload on `redisUrl`, counting into `key`, ready to take increments. */
async function readyWorkload(redisUrl: string, key: string, workDelayMs: number): Promise<WorkloadHandle> {
  const workload = await spawnWorkload({
    REDIS_URL: redisUrl,
    COUNTER_KEY: key,
    WORK_DELAY_MS: String(workDelayMs),
  });
  await waitUntilReady(workload);
  return workload;
}

/**
 * Sends the first `count` increments and waits until Redis counted them: from then on Redis has the
 * increment script cached, so the next EVALSHA really applies (rather than answering NOSCRIPT).
 */
async function sendFirstCounted(
  workload: WorkloadHandle,
  key: string,
  count: number,
  timeoutMs = 30_000,
): Promise<void> {
  await sendIncrements(workload.baseUrl, count);
  await waitFor(
    `the first increment${count === 1 ? '' : 's'} counted`,
    async () => (await readCounter(redis, key)) === count,
    { timeoutMs, intervalMs: 20 },
  );
}

/** Runs `scenario` with a lossy proxy in front of Redis; the proxy is closed however it ends. */
async function withLossyProxy(scenario: (proxy: LossyProxy) => Promise<void>): Promise<void> {
  const proxy = await startLossyProxy(redis.port);
  try {
    await scenario(proxy);
  } finally {
    await proxy.close();
  }
}

/** The drain, once signalled, ended well: exit 0, the counter at exactly `n`, nothing abandoned. */
async function expectCleanDrain(workload: WorkloadHandle, key: string, n: number): Promise<void> {
  expect((await workload.exited).code).toBe(0);
  expect(await readCounter(redis, key)).toBe(n);
  expect(workload.terminationMessage()).toMatchObject({ abandoned: 0, exitCode: 0 });
}

test('Redis killed and restarted in the middle of a drain: the counter still ends at exactly N', async () => {
  const key = 'restart';
  // The work falls due well after Redis is killed, however long signalling and killing take.
  const workload = await readyWorkload(redis.url, key, 3000);
  const n = 150;
  await sendIncrements(workload.baseUrl, n);

  workload.signal('SIGTERM');
  await workload.waitForLog('signal received');
  await redis.kill();
  // The increments fall due while Redis is down: they fail and are retried with backoff.
  await workload.waitForLog('increment failed, retrying', 15_000);
  await redis.start();

  await expectCleanDrain(workload, key, n);
  expect(workload.terminationMessage()).toMatchObject({ pendingAtSignal: n, completed: n });
  expect(workload.logs.some((line) => line.msg === 'increment succeeded after retries')).toBe(true);
});

test('a reply lost after Redis applied a batch: the re-sent batch is not counted twice', async () => {
  const key = 'lost-reply';
  await withLossyProxy(async (proxy) => {
    const workload = await readyWorkload(proxy.url, key, 300);
    await sendFirstCounted(workload, key, 1);
    // The next increment script to pass the proxy is applied by Redis, its reply swallowed and the
    // connection cut: ioredis reconnects and the same batch goes out again.
    proxy.arm('evalsha');
    const n = 51;
    await sendIncrements(workload.baseUrl, n - 1, 1);
    await waitFor('a swallowed reply', () => proxy.lostReplies === 1, { timeoutMs: 30_000, intervalMs: 20 });

    workload.signal('SIGTERM');
    await expectCleanDrain(workload, key, n);
    expect(workload.logs).toContainEqual(expect.objectContaining({ msg: RESENT_NOT_COUNTED }));
  });
});

test('replies lost three times in a row while requests keep coming: every increment counted once', async () => {
  const key = 'lost-replies';
  await withLossyProxy(async (proxy) => {
    const workload = await readyWorkload(proxy.url, key, 200);
    await sendFirstCounted(workload, key, 1);
    // Each copy of the next batch reaches Redis and loses its reply with its connection; the
    // re-sent copies (ioredis after the reconnect, the workload's own retry) must not add again,
    // and the increments falling due meanwhile must wait for that batch, then count once.
    proxy.arm('evalsha', { times: 3 });
    const n = 200;
    await sendIncrements(workload.baseUrl, n - 1, 5);
    await waitFor('three lost replies', () => proxy.lostReplies === 3, { timeoutMs: 60_000, intervalMs: 20 });

    workload.signal('SIGTERM');
    await expectCleanDrain(workload, key, n);
    expect(workload.logs).toContainEqual(expect.objectContaining({ msg: RESENT_NOT_COUNTED }));
  });
});

test('a reply later than the client timeout: the retried batch finds it applied and adds nothing', async () => {
  const key = 'late-reply';
  await withLossyProxy(async (proxy) => {
    const workload = await readyWorkload(proxy.url, key, 100);
    await sendFirstCounted(workload, key, 1);
    // Held past the workload's 5 s command timeout: the workload gives up on the batch and sends
    // it again on the same connection, behind the first copy, which Redis has applied.
    proxy.arm('evalsha', { mode: 'delay', delayMs: 6500 });
    const n = 21;
    await sendIncrements(workload.baseUrl, n - 1, 1);
    await workload.waitForLog('increment failed, retrying', 15_000);
    await workload.waitForLog(RESENT_NOT_COUNTED, 15_000);

    workload.signal('SIGTERM');
    await expectCleanDrain(workload, key, n);
  });
});

test('a full Redis (maxmemory, noeviction) refuses the batch as a whole; it lands once there is room', async () => {
  const key = 'full';
  const workload = await readyWorkload(redis.url, key, 100);
  await sendFirstCounted(workload, key, 5, 10_000);
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
