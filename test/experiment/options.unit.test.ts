import { describe, expect, test } from 'vitest';
import { innerCommand, parseUpOutput, withoutClusterOption } from '../../experiment/kind.ts';
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

describe('--cluster', () => {
  test('local is the default; kind is read spaced and with =', () => {
    expect(parseOptions([]).cluster).toBe('local');
    expect(parseOptions(['--cluster', 'local']).cluster).toBe('local');
    expect(parseOptions(['--cluster', 'kind']).cluster).toBe('kind');
    expect(parseOptions(['--cluster=kind', '--rate', '50', '--mode', 'hard'])).toMatchObject({
      cluster: 'kind',
      rate: 50,
      mode: 'hard',
    });
  });

  test('kind takes the options that do not act on the local cluster', () => {
    expect(
      parseOptions([
        '--cluster',
        'kind',
        '--sweep',
        '--propagation',
        '0',
        '--method',
        'POST',
        '--slow-clients',
        '2',
        '--keep',
      ]),
    ).toMatchObject({ cluster: 'kind', sweep: true, propagationSeconds: 0, method: 'POST', slowClients: 2 });
  });

  test.each([
    [['--cluster', 'minikube'], /--cluster: "minikube" is not allowed; use local or kind/],
    [['--cluster', ''], /--cluster: "" is not allowed; use local or kind/],
    [['--cluster'], /--cluster needs a value/],
    [['--cluster', 'kind', '--cluster', 'local'], /--cluster is given twice/],
    [
      ['--cluster', 'kind', '--endpoint-delay', '1'],
      /--endpoint-delay is not allowed with --cluster kind: it acts on the local cluster's own processes/,
    ],
    [['--cluster=kind', '--fault', 'redis-kill'], /--fault is not allowed with --cluster kind/],
    [['--matrix', '--cluster', 'kind'], /--matrix is not allowed with --cluster kind/],
    [['--cells', 'post'], /--cells is only allowed together with --matrix/],
    [
      ['--matrix', '--cells', 'post,Redis Kill'],
      /--cells: "Redis Kill" is not allowed; give matrix cell names/,
    ],
  ])('%j is refused', (argv, message) => {
    expect(() => parseOptions(argv)).toThrow(OptionError);
    expect(() => parseOptions(argv)).toThrow(message);
  });

  test('--cells with --matrix: the names, in the order given', () => {
    expect(parseOptions(['--matrix', '--cells', 'redis-kill,post'])).toMatchObject({
      matrix: true,
      cells: ['redis-kill', 'post'],
    });
  });

  test('local still takes the local-only options', () => {
    expect(
      parseOptions(['--cluster', 'local', '--endpoint-delay', '1', '--fault', 'redis-kill']),
    ).toMatchObject({
      cluster: 'local',
      endpointDelaySeconds: 1,
      fault: 'redis-kill',
    });
  });
});

describe('the kind re-exec (experiment/kind.ts)', () => {
  test('drops --cluster and its value, spaced and with =, and nothing else', () => {
    expect(withoutClusterOption(['--cluster', 'kind', '--rate', '50'])).toEqual(['--rate', '50']);
    expect(withoutClusterOption(['--rate=50', '--cluster=kind', '--keep'])).toEqual(['--rate=50', '--keep']);
    expect(withoutClusterOption(['--namespace', 'cluster'])).toEqual(['--namespace', 'cluster']);
  });

  test("reads run.sh up's last two lines: the namespace and the kubeconfig", () => {
    expect(parseUpOutput('apt noise\nlastcall-kind\n/r/.lastcall/kind/kubeconfig\n')).toEqual({
      netns: 'lastcall-kind',
      kubeconfig: '/r/.lastcall/kind/kubeconfig',
    });
    expect(parseUpOutput('\n/r/kubeconfig\n')).toEqual({ netns: '', kubeconfig: '/r/kubeconfig' });
    expect(() => parseUpOutput('')).toThrow(/did not end with a kubeconfig path/);
    expect(() => parseUpOutput('ns\nrelative/kubeconfig')).toThrow(/did not end with a kubeconfig path/);
  });

  test('runs the same CLI inside the namespace with KUBECONFIG and the in-kind marker', () => {
    const cmd = innerCommand(
      { netns: 'lastcall-kind', kubeconfig: '/k/config' },
      ['--cluster', 'kind', '--rate', '50'],
      { execPath: '/usr/bin/node', execArgv: [] },
    );
    expect(cmd.slice(0, 7)).toEqual([
      'nsenter',
      '--net=/run/netns/lastcall-kind',
      'env',
      'KUBECONFIG=/k/config',
      'LASTCALL_EXPERIMENT_IN_KIND=1',
      // run.sh up routed the pod and service ranges there (the soak's probes dial them)
      'LASTCALL_KIND_ROUTED=1',
      '/usr/bin/node',
    ]);
    expect(cmd.at(-3)).toMatch(/experiment\/cli\.ts$/);
    expect(cmd.slice(-2)).toEqual(['--rate', '50']);
    // docker provider: no namespace to enter, nothing routed
    const docker = innerCommand({ netns: '', kubeconfig: '/k' }, [], { execPath: 'node', execArgv: [] });
    expect(docker[0]).toBe('env');
    expect(docker).not.toContain('LASTCALL_KIND_ROUTED=1');
  });

  test('another CLI (npm run soak) can be the one run inside', () => {
    const cmd = innerCommand(
      { netns: 'lastcall-kind', kubeconfig: '/k/config' },
      ['--cluster=kind', '--minutes', '3'],
      { execPath: 'node', execArgv: [] },
      '/r/experiment/soak/cli.ts',
    );
    expect(cmd.slice(-3)).toEqual(['/r/experiment/soak/cli.ts', '--minutes', '3']);
  });
});
