import { describe, expect, test } from 'vitest';
import { WorkQueue } from './queue.ts';

describe('WorkQueue', () => {
  test('deduplicates keys waiting in the queue', async () => {
    const queue = new WorkQueue();
    queue.add('ns/a');
    queue.add('ns/b');
    queue.add('ns/a');
    expect(queue.depth).toBe(2);
    expect(await queue.get()).toBe('ns/a');
    expect(await queue.get()).toBe('ns/b');
  });

  test('hands a key to one worker at a time and requeues it when added during processing', async () => {
    const queue = new WorkQueue();
    queue.add('k');
    const key = await queue.get();
    expect(key).toBe('k');
    queue.add('k');
    queue.add('k');
    // Held by a worker: not handed out again in parallel.
    expect(queue.depth).toBe(0);
    let second: string | undefined;
    void queue.get().then((k) => {
      second = k;
    });
    await Promise.resolve();
    expect(second).toBeUndefined();
    queue.done('k');
    await Promise.resolve();
    expect(second).toBe('k');
    queue.done('k');
    expect(queue.depth).toBe(0);
  });

  test('a waiting worker gets a key as soon as it is added', async () => {
    const queue = new WorkQueue();
    const got = queue.get();
    queue.add('x');
    expect(await got).toBe('x');
  });

  test('addAfter delays, and the earliest of several schedules wins', async () => {
    const queue = new WorkQueue();
    const start = Date.now();
    queue.addAfter('late', 5000);
    queue.addAfter('late', 30);
    queue.addAfter('late', 4000);
    // A key due after 30 ms and before 4 s: if a later schedule had replaced the 30 ms one, it
    // would come out first (timers fire in order of their due time, however loaded the machine).
    queue.addAfter('marker', 1000);
    expect(queue.depth).toBe(0);
    expect(await queue.get()).toBe('late');
    expect(Date.now() - start).toBeGreaterThanOrEqual(25); // not before its delay (1 ms timer granularity)
    queue.done('late');
    expect(await queue.get()).toBe('marker');
    queue.shutDown();
  });

  test('addRateLimited backs off exponentially and forget() resets', () => {
    const queue = new WorkQueue({ backoff: { baseMs: 100, maxMs: 10_000, jitter: 0 } });
    expect(queue.addRateLimited('k')).toBe(100);
    expect(queue.addRateLimited('k')).toBe(200);
    expect(queue.addRateLimited('k')).toBe(400);
    expect(queue.failures('k')).toBe(3);
    queue.forget('k');
    expect(queue.addRateLimited('k')).toBe(100);
    queue.shutDown();
  });

  test('shutDown releases waiting workers and refuses new keys; in-flight keys finish', async () => {
    const queue = new WorkQueue();
    queue.add('a');
    const held = await queue.get();
    const waiting = queue.get();
    queue.add('b');
    expect(await waiting).toBe('b');
    const idle = queue.get();
    queue.shutDown();
    expect(await idle).toBeUndefined();
    queue.add('c');
    expect(await queue.get()).toBeUndefined();
    expect(queue.processing).toBe(2);
    queue.done(held as string);
    queue.done('b');
    expect(queue.processing).toBe(0);
  });

  test('reports depth changes', () => {
    const depths: number[] = [];
    const queue = new WorkQueue({ onDepthChange: (d) => depths.push(d) });
    queue.add('a');
    queue.add('b');
    void queue.get();
    expect(depths).toEqual([1, 2, 1]);
  });
});
