import { describe, expect, test } from 'vitest';
import { DEFAULT_DRAIN_SLACK_MS } from '../contracts/workload-env.ts';
import { formatIssue, parseConfig, redactCredentials } from './config.ts';

describe('parseConfig', () => {
  test('defaults when nothing is set (DRAIN_TIMEOUT_MS follows WORK_DELAY_MS)', () => {
    expect(parseConfig({})).toEqual({
      ok: true,
      config: {
        port: 8080,
        host: '::',
        redisUrl: 'redis://127.0.0.1:6379',
        redisPassword: undefined,
        counterKey: 'counter',
        workDelayMs: 5000,
        shutdownMode: 'graceful',
        drainTimeoutMs: 5000 + DEFAULT_DRAIN_SLACK_MS,
        shutdownDelayMs: 0,
        terminationMessagePath: '/dev/termination-log',
        logLevel: 'info',
        image: 'unknown',
        testCrash: undefined,
        maxPendingIncrements: 100_000,
        idleCloseMs: 1000,
      },
    });
  });

  test('reads every variable', () => {
    const result = parseConfig({
      PORT: '0',
      HOST: '127.244.0.7',
      REDIS_URL: 'rediss://user:pw@redis.ns.svc.cluster.local:6380/2',
      REDIS_PASSWORD: 's3cret',
      COUNTER_KEY: 'lastcall:counter',
      WORK_DELAY_MS: '1500',
      SHUTDOWN_MODE: 'Hard',
      DRAIN_TIMEOUT_MS: '6000',
      SHUTDOWN_DELAY_MS: '5000',
      TERMINATION_MESSAGE_PATH: '/tmp/x/termination-log',
      LOG_LEVEL: 'DEBUG',
      LASTCALL_IMAGE: 'lastcall/workload:v2',
      MAX_PENDING_INCREMENTS: '2500',
      IDLE_CLOSE_MS: '30000',
    });
    expect(result).toEqual({
      ok: true,
      config: {
        port: 0,
        host: '127.244.0.7',
        redisUrl: 'rediss://user:pw@redis.ns.svc.cluster.local:6380/2',
        redisPassword: 's3cret',
        counterKey: 'lastcall:counter',
        workDelayMs: 1500,
        shutdownMode: 'hard',
        drainTimeoutMs: 6000,
        shutdownDelayMs: 5000,
        terminationMessagePath: '/tmp/x/termination-log',
        logLevel: 'debug',
        image: 'lastcall/workload:v2',
        testCrash: undefined,
        maxPendingIncrements: 2500,
        idleCloseMs: 30000,
      },
    });
  });

  test('the default deadline covers the shutdown delay too; an explicit one must exceed it', () => {
    const result = parseConfig({ SHUTDOWN_DELAY_MS: '3000', WORK_DELAY_MS: '1000' });
    expect(result.ok && result.config.drainTimeoutMs).toBe(3000 + 1000 + DEFAULT_DRAIN_SLACK_MS);
    const refused = parseConfig({ SHUTDOWN_DELAY_MS: '3000', DRAIN_TIMEOUT_MS: '3000' });
    expect(!refused.ok && refused.issues).toEqual([
      {
        variable: 'DRAIN_TIMEOUT_MS',
        value: '3000',
        allowed: expect.stringContaining('more than SHUTDOWN_DELAY_MS (3000)'),
      },
    ]);
  });

  test('the test-only crash trigger is read only when set', () => {
    expect(parseConfig({ LASTCALL_TEST_CRASH: 'rejection' })).toMatchObject({
      ok: true,
      config: { testCrash: 'rejection' },
    });
    expect(parseConfig({ LOG_LEVEL: 'Silent' })).toMatchObject({ ok: true, config: { logLevel: 'silent' } });
  });

  test('an empty variable means "not set"', () => {
    const result = parseConfig({ PORT: '', WORK_DELAY_MS: '', REDIS_PASSWORD: '' });
    expect(result.ok && result.config.port).toBe(8080);
    expect(result.ok && result.config.redisPassword).toBeUndefined();
  });

  test.each([
    ['PORT', '8080.5'],
    ['PORT', ' 8080'],
    ['PORT', '1e3'],
    ['PORT', '65536'],
    ['HOST', 'a_b'],
    ['HOST', '-leading.dash'],
    ['REDIS_URL', 'redis-server:6379'],
    ['REDIS_URL', 'redis://'],
    ['REDIS_URL', 'redis://h:0'],
    ['REDIS_URL', 'redis://h:6379/db'],
    ['COUNTER_KEY', 'a b'],
    ['COUNTER_KEY', 'x'.repeat(257)],
    ['WORK_DELAY_MS', '-1'],
    ['WORK_DELAY_MS', '3600001'],
    ['SHUTDOWN_MODE', 'kill'],
    ['DRAIN_TIMEOUT_MS', '0'],
    ['DRAIN_TIMEOUT_MS', '10s'],
    ['SHUTDOWN_DELAY_MS', 'NaN'],
    ['TERMINATION_MESSAGE_PATH', './termination-log'],
    ['LOG_LEVEL', 'loud'],
    ['LOG_LEVEL', 'silently'],
    ['LASTCALL_TEST_CRASH', 'segfault'],
    ['MAX_PENDING_INCREMENTS', '0'],
    ['MAX_PENDING_INCREMENTS', '10000001'],
    ['MAX_PENDING_INCREMENTS', '1e5'],
  ])('refuses %s=%j', (variable, value) => {
    const result = parseConfig({ [variable]: value });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues).toHaveLength(1);
    expect(result.issues[0]).toMatchObject({ variable, value, allowed: expect.any(String) });
  });

  test('MAX_PENDING_INCREMENTS: the message says what is allowed', () => {
    const result = parseConfig({ MAX_PENDING_INCREMENTS: '-5' });
    expect(!result.ok && result.issues.map(formatIssue)).toEqual([
      'MAX_PENDING_INCREMENTS="-5" is not allowed: expected an integer from 1 to 10000000',
    ]);
  });

  test('the message names the variable, the value and what is allowed', () => {
    const result = parseConfig({ SHUTDOWN_MODE: 'soft' });
    expect(!result.ok && result.issues.map(formatIssue)).toEqual([
      'SHUTDOWN_MODE="soft" is not allowed: expected graceful or hard',
    ]);
  });

  test('reports every bad variable, and never echoes a password from REDIS_URL', () => {
    const result = parseConfig({ PORT: 'x', REDIS_URL: 'http://:hunter2@redis:6379', LOG_LEVEL: 'loud' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((issue) => issue.variable)).toEqual(['PORT', 'REDIS_URL', 'LOG_LEVEL']);
    expect(result.issues[1]?.value).toBe('http://***@redis:6379');
  });
});

test('redactCredentials hides user and password of a URL', () => {
  expect(redactCredentials('redis://user:pw@host:6379')).toBe('redis://***@host:6379');
  expect(redactCredentials('redis://host:6379')).toBe('redis://host:6379');
});
