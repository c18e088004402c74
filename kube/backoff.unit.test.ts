import { describe, expect, test } from 'vitest';
import { backoffDelay, FailureCounter } from './backoff.ts';

const policy = { baseMs: 10, maxMs: 1000, jitter: 0.5 };

describe('backoffDelay', () => {
  test('doubles per failure from the base, without jitter at random() = 0', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(policy, n, () => 0))).toEqual([10, 20, 40, 80]);
  });

  test('is capped at maxMs before jitter', () => {
    expect(backoffDelay(policy, 20, () => 0)).toBe(1000);
    expect(backoffDelay(policy, 5000, () => 0)).toBe(1000);
  });

  test('jitter stretches by up to the given fraction', () => {
    expect(backoffDelay(policy, 1, () => 0.999)).toBe(15);
    const delays = Array.from({ length: 200 }, () => backoffDelay(policy, 3));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(40);
    expect(Math.max(...delays)).toBeLessThanOrEqual(60);
    expect(new Set(delays).size).toBeGreaterThan(1);
  });

  test('no failures, no delay', () => {
    expect(backoffDelay(policy, 0)).toBe(0);
  });
});

describe('FailureCounter', () => {
  test('counts per key and forgets on success', () => {
    const counter = new FailureCounter(policy, () => 0);
    expect(counter.next('a')).toBe(10);
    expect(counter.next('a')).toBe(20);
    expect(counter.next('b')).toBe(10);
    counter.forget('a');
    expect(counter.failures('a')).toBe(0);
    expect(counter.next('a')).toBe(10);
  });
});
