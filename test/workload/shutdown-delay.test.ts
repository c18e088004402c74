import { expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { useFileRedis } from './file-redis.ts';
import { rawConnection, readCounter, refused, sendIncrements, spawnWorkload } from './support.ts';

const redis = useFileRedis();

test('SHUTDOWN_DELAY_MS: readiness off but still serving and counting; then refused, keep-alive gets Connection: close', async () => {
  const key = 'delay';
  // Margins for a loaded machine: the work outlasts everything before the signal (so all `before`
  // increments are pending at it), the delay outlasts the requests sent during it.
  const shutdownDelayMs = 3000;
  const workload = await spawnWorkload({
    REDIS_URL: redis.url,
    COUNTER_KEY: key,
    WORK_DELAY_MS: '3000',
    SHUTDOWN_DELAY_MS: String(shutdownDelayMs),
  });
  const before = 20;
  await sendIncrements(workload.baseUrl, before);

  // A keep-alive client: one full request, answered without Connection: close...
  const keepAlive = await rawConnection(workload.port);
  keepAlive.socket.write('GET /healthz HTTP/1.1\r\nHost: workload\r\n\r\n');
  await waitFor('first keep-alive answer', () => keepAlive.received().includes('"status":"alive"'), {
    timeoutMs: 30_000,
    intervalMs: 20,
  });
  expect(keepAlive.received()).toMatch(/^Connection: keep-alive\r$/im);
  // ...then half a request, so the socket is busy (not idle) when the listener closes.
  keepAlive.socket.write('GET /incr HTTP/1.1\r\nHost: workload\r\n');

  workload.signal('SIGTERM');
  await workload.waitForLog('signal received');
  expect((await fetch(`${workload.baseUrl}/readyz`)).status).toBe(503);

  // During the delay, new connections are still accepted and their increments counted.
  const during = 15;
  await sendIncrements(workload.baseUrl, during);
  expect(workload.logs.some((line) => line.phase === 'closing')).toBe(false);

  await workload.waitForLog((line) => line.phase === 'closing');
  await waitFor('listener closed', () => refused(workload.port), { timeoutMs: 30_000, intervalMs: 20 });

  // The busy keep-alive socket finishes its request: answered, counted, told to close, closed.
  const seen = keepAlive.received().length;
  keepAlive.socket.write('\r\n');
  await keepAlive.closed;
  const second = keepAlive.received().slice(seen);
  expect(second).toMatch(/^HTTP\/1\.1 200/);
  expect(second).toMatch(/^Connection: close\r$/im);

  const { code } = await workload.exited;
  expect(code).toBe(0);
  const total = before + during + 1;
  expect(await readCounter(redis, key)).toBe(total);
  expect(workload.terminationMessage()).toMatchObject({
    pendingAtSignal: before,
    acceptedDuringDrain: during + 1,
    completed: total,
    abandoned: 0,
    exitCode: 0,
  });
  // The drain lasted at least the delay.
  expect(Number(workload.terminationMessage().drainMs)).toBeGreaterThanOrEqual(shutdownDelayMs);
});
