import { describe, expect, test } from 'vitest';
import { parseOptions } from './options.ts';

describe('parseOptions', () => {
  test('defaults', () => {
    const options = parseOptions([], {});
    expect(options).toMatchObject({
      kubeconfig: undefined,
      metricsPort: 8080,
      healthPort: 8081,
      leaderElect: true,
      leaseName: 'lastcall-operator',
      concurrency: 4,
      watchTimeoutSeconds: 300,
      logLevel: 'info',
    });
    expect(options.identity).toMatch(/-[0-9a-f]{8}$/);
  });

  test('flags win over the environment', () => {
    const options = parseOptions(['--metrics-port', '9000', '--leader-elect=false', '--concurrency=8'], {
      METRICS_PORT: '7000',
      HEALTH_PORT: '7001',
      POD_NAMESPACE: 'ops',
      POD_NAME: 'op-1',
    });
    expect(options).toMatchObject({
      metricsPort: 9000,
      healthPort: 7001,
      leaderElect: false,
      concurrency: 8,
      leaseNamespace: 'ops',
      identity: 'op-1',
    });
  });

  test.each([
    [['--metrics-port', '70000'], '--metrics-port="70000": must be an integer from 0 to 65535'],
    [['--concurrency', '0'], '--concurrency="0": must be an integer from 1 to 256'],
    [['--concurrency', 'many'], '--concurrency="many": must be an integer'],
    [['--leader-elect', 'yes'], '--leader-elect="yes": must be true or false'],
    [['--log-level', 'loud'], '--log-level="loud": must be one of trace, debug'],
    [['--kubeconfig', '/nonexistent/kubeconfig'], '--kubeconfig="/nonexistent/kubeconfig": no such file'],
    [['--renew-deadline', '20'], '--renew-deadline=20: must be less than --lease-duration=15'],
    [['--bogus', '1'], "Unknown option '--bogus'"],
  ])('%j is refused with a message naming the flag', (argv, message) => {
    expect(() => parseOptions(argv, {})).toThrow(message);
  });

  test('bind address: flag, BIND_ADDRESS, HOST, then all interfaces', () => {
    expect(parseOptions([], {}).bindAddress).toBe('0.0.0.0');
    expect(parseOptions([], { HOST: '127.244.0.9' }).bindAddress).toBe('127.244.0.9');
    expect(parseOptions([], { HOST: '127.244.0.9', BIND_ADDRESS: '127.0.0.1' }).bindAddress).toBe(
      '127.0.0.1',
    );
  });

  test('environment errors name the variable', () => {
    expect(() => parseOptions([], { HEALTH_PORT: '-1' })).toThrow(
      'HEALTH_PORT="-1": must be an integer from 0 to 65535',
    );
  });
});
