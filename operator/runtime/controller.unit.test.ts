import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { describe, expect, test } from 'vitest';
import { waitFor } from '../../kube/poll.ts';
import { Controller, type Reconcile } from './controller.ts';
import { createMetrics } from './metrics.ts';

const log = pino({ level: 'silent' });

function controllerWith(reconcile: Reconcile, concurrency = 2) {
  return new Controller({ name: 'test', reconcile, log, metrics: createMetrics(), concurrency });
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('Controller', () => {
  test('stop() waits for the reconciles in flight and takes no new keys', async () => {
    const gate = deferred();
    const started: string[] = [];
    const finished: string[] = [];
    const controller = controllerWith(async (key) => {
      started.push(key);
      await gate.promise;
      finished.push(key);
      return undefined;
    }, 1);
    controller.start();
    controller.enqueue('a');
    controller.enqueue('b');
    await waitFor('the first reconcile to start', () => started.length === 1, {
      timeoutMs: 10_000,
      intervalMs: 1,
    });
    let stopped = false;
    const stopping = controller.stop().then(() => {
      stopped = true;
    });
    await sleep(20);
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    expect(finished).toEqual(['a']);
    expect(started).toEqual(['a']);
  });

  test('a failed reconcile is retried with back-off until it succeeds', async () => {
    let attempts = 0;
    const controller = controllerWith(async () => {
      attempts++;
      if (attempts < 3) throw new Error('transient');
      return undefined;
    });
    controller.start();
    controller.enqueue('k');
    await waitFor('the third attempt', () => attempts === 3, { timeoutMs: 10_000, intervalMs: 1 });
    await sleep(50);
    expect(attempts).toBe(3);
    expect(controller.queue.failures('k')).toBe(0);
    await controller.stop();
  });

  test('requeueAfterMs brings the key back later', async () => {
    const times: number[] = [];
    const controller = controllerWith(async () => {
      times.push(Date.now());
      return times.length < 2 ? { requeueAfterMs: 30 } : undefined;
    });
    controller.start();
    controller.enqueue('k');
    await waitFor('the requeued second run', () => times.length === 2, { timeoutMs: 10_000, intervalMs: 1 });
    expect((times[1] ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(25);
    await controller.stop();
  });

  test('never reconciles one key twice at once, even with several workers', async () => {
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const gate = deferred();
    const controller = controllerWith(async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await gate.promise;
      running--;
      runs++;
      return undefined;
    }, 4);
    controller.start();
    controller.enqueue('same');
    await waitFor('the first run to start', () => running === 1, { timeoutMs: 10_000, intervalMs: 1 });
    // Four more adds while it runs, with three workers idle: none may take the key.
    for (let i = 0; i < 4; i++) controller.enqueue('same');
    expect(running).toBe(1);
    gate.resolve();
    await waitFor(
      'two runs and an idle, empty queue',
      () => runs >= 2 && running === 0 && controller.queue.depth === 0,
      { timeoutMs: 10_000, intervalMs: 1 },
    );
    expect(maxRunning).toBe(1);
    // The adds collapse into one more run: the one running plus one queued behind it.
    expect(runs).toBe(2);
    await controller.stop();
  });

  test('aborting its signal aborts the reconciles in flight, which are cancelled, not retried', async () => {
    const lease = new AbortController();
    const seen: AbortSignal[] = [];
    let runs = 0;
    const controller = new Controller({
      name: 'test',
      log,
      metrics: createMetrics(),
      concurrency: 1,
      signal: lease.signal,
      reconcile: async (_key, signal) => {
        runs++;
        seen.push(signal);
        // A reconcile waiting on a request: the request is aborted with the signal.
        await new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
        return undefined;
      },
    });
    controller.start();
    controller.enqueue('a');
    controller.enqueue('b');
    await waitFor('the first reconcile to start', () => runs === 1, { timeoutMs: 10_000, intervalMs: 1 });
    expect(seen[0]?.aborted).toBe(false);
    lease.abort(new Error('lost leadership'));
    await controller.stop();
    expect(seen[0]?.aborted).toBe(true);
    expect(seen[0]?.reason).toEqual(new Error('lost leadership'));
    // No retry of the cancelled key and no start of the queued one: this replica stopped writing.
    expect(runs).toBe(1);
    expect(controller.queue.failures('a')).toBe(0);
  });
});
