import { afterEach, describe, expect, test } from 'vitest';
import { killAllWorkloads, spawnWorkloadProcess } from './support.ts';

afterEach(killAllWorkloads);

// One bad value per variable the workload reads; each must stop the real process before it listens.
const badValues: Array<[variable: string, value: string, allowed: RegExp]> = [
  ['PORT', '80a', /integer from 0 to 65535/],
  ['PORT', '65536', /integer from 0 to 65535/],
  ['HOST', 'not a host', /address or a DNS host name/],
  ['REDIS_URL', 'http://redis:6379', /scheme redis or rediss/],
  ['COUNTER_KEY', 'my counter', /printable ASCII characters without spaces/],
  ['WORK_DELAY_MS', '5s', /integer number of milliseconds from 0/],
  ['SHUTDOWN_MODE', 'soft', /graceful or hard/],
  ['DRAIN_TIMEOUT_MS', '0', /integer number of milliseconds from 1/],
  ['SHUTDOWN_DELAY_MS', '-1', /integer number of milliseconds from 0/],
  ['TERMINATION_MESSAGE_PATH', 'termination-log', /absolute file path/],
  ['LOG_LEVEL', 'verbose', /one of trace, debug, info, warn, error, fatal, silent/],
  ['LASTCALL_TEST_CRASH', 'segfault', /exception or rejection \(tests only\)/],
  ['MAX_PENDING_INCREMENTS', '0', /integer from 1 to 10000000/],
  ['IDLE_CLOSE_MS', '1s', /integer number of milliseconds from 0/],
];

describe('a bad configuration value stops the process with a message naming variable, value and what is allowed', () => {
  test.each(badValues)('%s=%s', async (variable, value, allowed) => {
    const workload = spawnWorkloadProcess({ [variable]: value });
    const { code } = await workload.exited;
    expect(code).toBe(2);
    expect(workload.logs.some((line) => line.msg === 'started')).toBe(false);
    const line = workload.logs.find((l) => l.msg.startsWith('invalid configuration'));
    expect(line).toMatchObject({ level: 60, variable, value, allowed: expect.stringMatching(allowed) });
    expect(line?.msg).toContain(`${variable}=${JSON.stringify(value)}`);
  });
});

test('every refused variable is reported at once, and a password in REDIS_URL is not echoed', async () => {
  const workload = spawnWorkloadProcess({ PORT: 'x', REDIS_URL: 'redis://:hunter2@', SHUTDOWN_MODE: 'Soft' });
  expect((await workload.exited).code).toBe(2);
  const refused = workload.logs
    .filter((l) => l.msg.startsWith('invalid configuration'))
    .map((l) => l.variable);
  expect(refused).toEqual(['PORT', 'REDIS_URL', 'SHUTDOWN_MODE']);
  expect(JSON.stringify(workload.logs)).not.toContain('hunter2');
});
