/**
 * The experiment's load driver against a real HTTP server on loopback, with
 * the real vegeta: exact counts, per-second buckets, and failures counted by
 * cause when the server answers 503 or goes away mid-run.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeAll, expect, test } from 'vitest';
import { ensureTools } from '../../cluster/tools.ts';
import { startLoad } from '../../experiment/load.ts';

let vegeta: string;
let server: Server | undefined;

beforeAll(async () => {
  vegeta = join(await ensureTools(), 'vegeta');
});

afterEach(async () => {
  server?.closeAllConnections();
  if (server?.listening) await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<number> {
  server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

test('sends exactly rate × duration requests and counts every answer by the second it was sent', async () => {
  let received = 0;
  const port = await serve((_req, res) => {
    received++;
    res.end('{"id":"x"}');
  });
  const load = startLoad({ vegeta, url: `http://127.0.0.1:${port}/incr`, rate: 40, durationSeconds: 3 });
  const totals = await load.done;

  expect(totals).toMatchObject({ sent: 120, ok: 120, failed: 0, failures: {} });
  expect(received).toBe(120);
  // Seconds count from vegeta's first request (however long the machine took to start it), and
  // every answer lands in exactly one of them.
  const counted = totals.perSecond;
  expect(counted[0]?.sent).toBeGreaterThan(0);
  expect(counted.reduce((n, s) => n + s.sent, 0)).toBe(120);
  expect(counted.reduce((n, s) => n + s.ok, 0)).toBe(120);
  // The pacer never runs ahead of the rate: request i leaves no earlier than (i + 1) / rate after
  // vegeta began, so the last of 120 at 40/s at least 3 s after the spawn. (How evenly it spreads
  // them depends on the machine's load, so that is not asserted.)
  expect(totals.firstSentAt).toBeGreaterThanOrEqual(totals.startedAt);
  expect((totals.lastSentAt ?? 0) - totals.startedAt).toBeGreaterThanOrEqual(3000);
  expect(load.snapshot().sent).toBe(120);
});

test('counts non-2xx answers and refused connections as failures, by cause', async () => {
  const served = { 200: 0, 503: 0 };
  const { promise: halfway, resolve: reachedHalfway } = Promise.withResolvers<void>();
  const port = await serve((_req, res) => {
    const code = (served[200] + served[503] + 1) % 4 === 0 ? 503 : 200;
    served[code]++;
    if (served[200] + served[503] === 60) reachedHalfway();
    res.statusCode = code;
    res.end();
  });
  const load = startLoad({ vegeta, url: `http://127.0.0.1:${port}/incr`, rate: 40, durationSeconds: 3 });
  // Halfway through (60 of 120 handled), the server goes away: later requests are refused.
  // A load that ends early (vegeta failing) settles load.done first and fails the test below.
  await Promise.race([halfway, load.done]);
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  const totals = await load.done;
  const handled = served[200] + served[503];

  const http503 = totals.failures['HTTP 503'] ?? 0;
  const transport = totals.failed - http503;

  expect(totals.sent).toBe(120);
  expect(totals.ok + totals.failed).toBe(120);
  expect(handled).toBeLessThan(120);
  // Every answer counted is one the server gave, by its code...
  expect(totals.ok).toBeLessThanOrEqual(served[200]);
  expect(http503).toBeLessThanOrEqual(served[503]);
  expect(http503).toBeGreaterThan(0);
  // ...and every request it never handled failed in transport (refused, once the port was closed).
  expect(transport).toBeGreaterThanOrEqual(120 - handled);
  expect(totals.failures['connection refused']).toBeGreaterThan(0);
  // An answer written just before the connections were cut, not yet read by vegeta, is lost on the
  // way (EOF or a reset): a few at most.
  expect(handled - totals.ok - http503).toBeLessThanOrEqual(10);
});

test('a missing vegeta binary rejects with the reason', async () => {
  const load = startLoad({
    vegeta: '/nonexistent/vegeta',
    url: 'http://127.0.0.1:1/incr',
    rate: 1,
    durationSeconds: 1,
  });
  await expect(load.done).rejects.toThrow(/ENOENT/);
});
