// Bounded promises: the workload never answers 200 to an increment it may not keep. Past the
// pending limit, and after SIGTERM for work that cannot finish before the drain deadline, /incr
// answers 503 with Retry-After; readiness follows the ability to accept work and survives a brief
// Redis stall. Also: dual-stack listening by default and a keep-alive timeout above load balancers'.
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { useFileRedis } from './file-redis.ts';
import { readCounter, sendIncrements, spawnWorkload, waitUntilReady } from './support.ts';

const redis = useFileRedis();

async function incr(baseUrl: string): Promise<Response> {
  const response = await fetch(`${baseUrl}/incr`, { method: 'POST' });
  await response.arrayBuffer();
  return response;
}

test('at MAX_PENDING_INCREMENTS: 503 with Retry-After, unready near the limit, and only the 200s are counted', async () => {
  const key = 'limit';
  // The work outlasts the 25 requests and the reads below by far (they take tens of ms on a quiet
  // machine), so none of the 20 promised increments is confirmed, freeing room, before the check.
  const workload = await spawnWorkload({
    REDIS_URL: redis.url,
    COUNTER_KEY: key,
    WORK_DELAY_MS: '6000',
    MAX_PENDING_INCREMENTS: '20',
  });
  await waitUntilReady(workload);
  let ok = 0;
  const refused: Response[] = [];
  for (let i = 0; i < 25; i++) {
    const response = await incr(workload.baseUrl);
    if (response.status === 200) ok++;
    else refused.push(response);
  }
  expect(ok).toBe(20);
  expect(refused.map((r) => r.status)).toEqual([503, 503, 503, 503, 503]);
  expect(refused[0]?.headers.get('retry-after')).toBe('1');
  const readyz = await fetch(`${workload.baseUrl}/readyz`);
  expect(readyz.status).toBe(503);
  expect(await readyz.json()).toEqual({
    ready: false,
    reason: '20 increments pending, 18 or more (90 % of the limit 20)',
  });
  const metrics = await (await fetch(`${workload.baseUrl}/metrics`)).text();
  expect(metrics).toContain('lastcall_workload_increments_refused_total{reason="full"} 5');

  // Room again once the work is done and confirmed; ready again.
  await waitFor('the 20 promised increments', async () => (await readCounter(redis, key)) === 20, {
    timeoutMs: 60_000,
    intervalMs: 50,
  });
  expect((await fetch(`${workload.baseUrl}/readyz`)).status).toBe(200);
  expect((await incr(workload.baseUrl)).status).toBe(200);
  workload.signal('SIGTERM');
  expect((await workload.exited).code).toBe(0);
  expect(await readCounter(redis, key)).toBe(21);
});

test('after SIGTERM, an /incr whose work would end after the drain deadline gets 503; every 200 is kept', async () => {
  const key = 'deadline';
  // Deadline 8.5 s after the signal, work 5 s (+0.5 s allowance): only requests in the first 3 s
  // of the 8 s shutdown delay can be promised, later ones are refused. Both windows are seconds
  // wide, so a loaded machine still sends requests in each.
  const workload = await spawnWorkload({
    REDIS_URL: redis.url,
    COUNTER_KEY: key,
    WORK_DELAY_MS: '5000',
    SHUTDOWN_DELAY_MS: '8000',
    DRAIN_TIMEOUT_MS: '8500',
  });
  await waitUntilReady(workload);
  await sendIncrements(workload.baseUrl, 10);
  workload.signal('SIGTERM');
  await workload.waitForLog('signal received');
  let ok = 10;
  const refusal = await waitFor(
    'an /incr refused for the drain deadline',
    async () => {
      const response = await incr(workload.baseUrl);
      if (response.status === 200) ok++;
      return response.status === 503 ? response : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 20 },
  );
  expect(refusal.headers.get('retry-after')).toBe('1');
  expect(refusal.headers.get('connection')).toBe('close');
  expect(ok).toBeGreaterThan(10); // the first moments after the signal still accept work

  const { code } = await workload.exited;
  expect(code).toBe(0);
  expect(workload.terminationMessage()).toMatchObject({ abandoned: 0, exitCode: 0 });
  expect(await readCounter(redis, key)).toBe(ok);
});

test('a Redis stall of a few seconds keeps the pod ready; increments wait and land', async () => {
  const key = 'stall';
  const workload = await spawnWorkload({ REDIS_URL: redis.url, COUNTER_KEY: key, WORK_DELAY_MS: '100' });
  await waitUntilReady(workload);
  // SIGSTOP: Redis keeps its connections but answers nothing, as in a long fork or a slow disk.
  const pid = Number((await redis.client.info('server')).match(/^process_id:(\d+)/m)?.[1]);
  process.kill(pid, 'SIGSTOP');
  try {
    await sendIncrements(workload.baseUrl, 20);
    // Probe readiness through 3 s of stall, as a kubelet would every second or so.
    const stalledUntil = Date.now() + 3000;
    const statuses: number[] = [];
    while (Date.now() < stalledUntil) {
      const ready = await fetch(`${workload.baseUrl}/readyz`);
      statuses.push(ready.status);
      await ready.arrayBuffer();
      await sleep(250);
    }
    expect(statuses.length).toBeGreaterThan(3);
    expect(statuses.every((status) => status === 200)).toBe(true);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  await waitFor('the stalled increments', async () => (await readCounter(redis, key)) === 20, {
    timeoutMs: 20_000,
    intervalMs: 50,
  });
  workload.signal('SIGTERM');
  expect((await workload.exited).code).toBe(0);
  expect(await readCounter(redis, key)).toBe(20);
});

test('listens dual-stack by default and keeps idle connections 620 s', async () => {
  // HOST empty = unset: the default, every address.
  const workload = await spawnWorkload({ REDIS_URL: redis.url, COUNTER_KEY: 'stack', HOST: '' });
  const started = await workload.waitForLog('started');
  const ipv6 = started.address === '::';
  // Where the kernel has IPv6 the socket is `::`, which takes IPv4 too; else 0.0.0.0.
  expect(started.address).toBe(ipv6 ? '::' : '0.0.0.0');
  const keepAlive = await new Promise<string | undefined>((resolve, reject) => {
    request(
      { host: '127.0.0.1', port: workload.port, path: '/healthz', headers: { connection: 'keep-alive' } },
      (res) => {
        res.resume();
        resolve(String(res.headers['keep-alive']));
      },
    )
      .on('error', reject)
      .end();
  });
  expect(keepAlive).toBe('timeout=620');
});
