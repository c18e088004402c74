/**
 * Keep-alive connections through a drain, the way a POST client sees them. HTTP/1.1 lets a server
 * end a keep-alive connection without a race only by answering `Connection: close`; closing a
 * socket between two requests can cut the client's next request off (EOF), and no client re-sends
 * a POST. CI once lost one POST that way (test/e2e/propagation.test.ts, 3 s endpoint delay):
 * Node's server.close() closed every idle socket at once. workload/connections.ts says what the
 * drain does instead.
 */
import { expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { useFileRedis } from './file-redis.ts';
import { rawConnection, readCounter, refused, spawnWorkload } from './support.ts';

const redis = useFileRedis();

const POST_INCR = 'POST /incr HTTP/1.1\r\nHost: workload\r\nContent-Length: 0\r\n\r\n';

/**
 * A workload (500 ms of work, a drain deadline far away) and one keep-alive connection that has sent
 * one POST /incr and read its whole answer: the connection now sits between two requests.
 */
async function workloadWithOneAnsweredPost(key: string, idleCloseMs: number) {
  const workload = await spawnWorkload({
    REDIS_URL: redis.url,
    COUNTER_KEY: key,
    WORK_DELAY_MS: '500',
    DRAIN_TIMEOUT_MS: '60000',
    IDLE_CLOSE_MS: String(idleCloseMs),
  });
  const client = await rawConnection(workload.port);
  client.socket.write(POST_INCR);
  await waitFor('first answer', () => /\r\n\r\n\{.*\}$/s.test(client.received()), {
    timeoutMs: 30_000,
    intervalMs: 10,
  });
  return { workload, client };
}

test('a connection idle when the listener closes is not cut: its next POST is answered, counted, and told to close', async () => {
  const key = 'idle-at-close';
  // IDLE_CLOSE_MS far longer than the test needs, so a loaded machine cannot turn "idle" into "idle too long".
  const { workload, client } = await workloadWithOneAnsweredPost(key, 60_000);
  expect(client.received()).toMatch(/^HTTP\/1\.1 200/);
  expect(client.received()).toMatch(/^Connection: keep-alive\r$/im);

  // The connection now sits between two requests, as a client's pooled connection does.
  workload.signal('SIGTERM');
  await workload.waitForLog((line) => line.phase === 'closing');
  await waitFor('listener closed', () => refused(workload.port), { timeoutMs: 30_000, intervalMs: 20 });

  const seen = client.received().length;
  client.socket.write(POST_INCR);
  await client.closed;
  const second = client.received().slice(seen);
  expect(second).toMatch(/^HTTP\/1\.1 200/);
  expect(second).toMatch(/^Connection: close\r$/im);

  expect((await workload.exited).code).toBe(0);
  expect(await readCounter(redis, key)).toBe(2);
  expect(workload.terminationMessage()).toMatchObject({ abandoned: 0, acceptedDuringDrain: 1, exitCode: 0 });
});

test('a connection the client leaves idle is closed after IDLE_CLOSE_MS and does not hold the drain', async () => {
  const key = 'left-idle';
  const { workload, client } = await workloadWithOneAnsweredPost(key, 300);
  const answered = client.received().length;

  workload.signal('SIGTERM');
  await client.closed;
  // Closed by the server without a word: no response was owed.
  expect(client.received().length).toBe(answered);
  expect((await workload.exited).code).toBe(0);
  expect(await readCounter(redis, key)).toBe(1);
  expect(workload.terminationMessage()).toMatchObject({ abandoned: 0, exitCode: 0 });
});
