import { createServer, type Server } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { freeNodePort, freePorts } from './ports.ts';

const held: Server[] = [];
afterEach(async () => {
  await Promise.all(held.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

function hold(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      held.push(server);
      resolve();
    });
  });
}

test('freePorts: distinct ports below the NodePort and ephemeral ranges, each bindable', async () => {
  const ports = await freePorts(5);
  expect(new Set(ports).size).toBe(5);
  for (const port of ports) {
    expect(port).toBeGreaterThanOrEqual(20000);
    expect(port).toBeLessThan(30000);
    await hold(port);
  }
});

test('freeNodePort: in the NodePort range, never a named one, never one that is listened on', async () => {
  for (let i = 0; i < 50; i++) {
    const port = await freeNodePort();
    expect(port).toBeGreaterThanOrEqual(30000);
    expect(port).toBeLessThanOrEqual(32767);
    expect([30080, 30081, 30180, 30190]).not.toContain(port);
    // Held from now on: a later pick must not return it.
    await hold(port);
  }
  expect(new Set(held.map((s) => (s.address() as { port: number }).port)).size).toBe(50);
});
