import { describe, expect, test } from 'vitest';
import { DEFAULT_OPTIONS, OptionError, parseOptions } from '../../experiment/options.ts';

describe('parseOptions', () => {
  test('no arguments give the seed experiment: 25/s for 40 s, one replica, one rollout, graceful', () => {
    const o = parseOptions([]);
    expect(o).toEqual(DEFAULT_OPTIONS);
    expect(o.rate * o.durationSeconds).toBe(1000);
  });

  test('reads every option, spaced and with =', () => {
    const o = parseOptions([
      '--rate',
      '75',
      '--duration=20',
      '--replicas',
      '3',
      '--rollouts=3',
      '--mode',
      'hard',
      '--keep',
      '--report',
      '/tmp/r.html',
      '--node-port',
      '30099',
      '--namespace=exp-2',
    ]);
    expect(o).toMatchObject({
      rate: 75,
      durationSeconds: 20,
      replicas: 3,
      rollouts: 3,
      mode: 'hard',
      keep: true,
      reportPath: '/tmp/r.html',
      nodePort: 30099,
      namespace: 'exp-2',
      sweep: false,
    });
  });

  test('sweep with a ceiling', () => {
    expect(parseOptions(['--sweep', '--sweep-max', '400'])).toMatchObject({ sweep: true, sweepMaxRate: 400 });
  });

  test.each([
    [
      ['--rate', 'fast'],
      /--rate: "fast" is not allowed; use a whole number of requests per second from 1 to/,
    ],
    [['--rate', '0'], /--rate: "0" is not allowed/],
    [['--rate', '2.5'], /--rate: "2.5"/],
    [['--rate=-3'], /--rate: "-3"/],
    [
      ['--duration', '99999'],
      /--duration: "99999" is not allowed; use a whole number of seconds from 5 to 3600/,
    ],
    [['--replicas', '0'], /--replicas: "0"/],
    [['--rollouts', 'x'], /--rollouts: "x"/],
    [['--mode', 'soft'], /--mode: "soft" is not allowed; use graceful or hard/],
    [['--node-port', '8080'], /--node-port: "8080" is not allowed; .*from 30000 to 32767/],
    [['--namespace', 'Bad_NS'], /--namespace: "Bad_NS" is not allowed/],
    [['--report', ''], /--report: "" is not allowed/],
    [['--rate'], /--rate needs a value/],
    [['--rate', '--keep'], /--rate needs a value/],
    [['--speed', '3'], /unknown option "--speed"; allowed: --rate, /],
    [['--keep=yes'], /--keep takes no value/],
    [['--rate', '1', '--rate', '2'], /--rate is given twice/],
    [['--sweep-max', '100'], /--sweep-max is only allowed together with --sweep/],
    [
      ['--sweep', '--rate', '200', '--sweep-max', '100'],
      /--sweep-max: 100 is not allowed; it must be at least/,
    ],
  ])('%j is refused', (argv, message) => {
    expect(() => parseOptions(argv)).toThrow(OptionError);
    expect(() => parseOptions(argv)).toThrow(message);
  });
});
