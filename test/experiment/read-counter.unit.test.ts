import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { ForeignCounterError, readCounter } from '../../experiment/kube.ts';

// A stand-in for whatever answers on the NodePort: the workload's GET /count body is {key, value}.
let server: Server | undefined;
async function countServer(body: unknown): Promise<number> {
  server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}
afterEach(async () => {
  server?.close();
  server = undefined;
});

test("reads the count when the port answers for this run's key", async () => {
  const port = await countServer({ key: 'experiment:1', value: 42 });
  expect(await readCounter(port, 'experiment:1')).toBe(42);
});

test('refuses a count for another key, naming both keys and the port', async () => {
  // What happened when two local clusters ran at once: the second cluster's proxy could not bind
  // the NodePort, and its experiment read (and loaded) the first cluster's pods.
  const port = await countServer({ key: 'experiment:other', value: 3500 });
  const read = readCounter(port, 'experiment:mine');
  await expect(read).rejects.toBeInstanceOf(ForeignCounterError);
  await expect(read).rejects.toThrow(
    new RegExp(
      `127\\.0\\.0\\.1:${port} answers for counter key "experiment:other", not this run's "experiment:mine"`,
    ),
  );
});
