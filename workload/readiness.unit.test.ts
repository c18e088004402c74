import { expect, test } from 'vitest';
import { READY_PENDING_FRACTION, REDIS_UNREACHABLE_AFTER_MS, RedisContact, readiness } from './readiness.ts';

const serving = {
  serving: true,
  drainPhase: 'serving',
  pending: 0,
  maxPending: 1000,
  sinceRedisAnsweredMs: 0,
};

test('ready while serving, below the pending threshold, and Redis answered recently', () => {
  expect(readiness(serving)).toEqual({ ready: true });
  expect(readiness({ ...serving, pending: 1000 * READY_PENDING_FRACTION - 1 })).toEqual({ ready: true });
});

test('a brief Redis stall keeps the pod ready; a long one does not', () => {
  expect(readiness({ ...serving, sinceRedisAnsweredMs: 5000 })).toEqual({ ready: true });
  expect(readiness({ ...serving, sinceRedisAnsweredMs: REDIS_UNREACHABLE_AFTER_MS })).toEqual({
    ready: true,
  });
  expect(readiness({ ...serving, sinceRedisAnsweredMs: REDIS_UNREACHABLE_AFTER_MS + 1 })).toEqual({
    ready: false,
    reason: 'Redis has not answered for 10 s (more than 10 s)',
  });
  expect(readiness({ ...serving, sinceRedisAnsweredMs: Number.POSITIVE_INFINITY })).toEqual({
    ready: false,
    reason: 'Redis has not answered yet',
  });
});

test('unready near the pending limit, and while draining', () => {
  expect(readiness({ ...serving, pending: 900 })).toEqual({
    ready: false,
    reason: '900 increments pending, 900 or more (90 % of the limit 1000)',
  });
  expect(readiness({ ...serving, serving: false, drainPhase: 'delaying' })).toEqual({
    ready: false,
    reason: 'draining (delaying)',
  });
});

test('Redis contact: unknown until the first answer; a PING only when nothing else answered lately', async () => {
  let now = 0;
  let pings = 0;
  const contact = new RedisContact(
    async () => {
      pings++;
      return true;
    },
    () => now,
  );
  expect(contact.sinceAnsweredMs).toBe(Number.POSITIVE_INFINITY);
  contact.start();
  await Promise.resolve();
  await Promise.resolve();
  contact.stop();
  expect(pings).toBe(1);
  expect(contact.sinceAnsweredMs).toBe(0);
  now = 4000;
  expect(contact.sinceAnsweredMs).toBe(4000);
  contact.answered();
  expect(contact.sinceAnsweredMs).toBe(0);
});
