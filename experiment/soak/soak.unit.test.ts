import { describe, expect, test } from 'vitest';
import {
  formatSlope,
  linesOf,
  loadShareOf,
  pearson,
  slopesOf,
  WORKLOAD_HEAP_PER_POD,
  WORKLOAD_RSS_PER_POD,
} from './lines.ts';
import { DEFAULT_SOAK_OPTIONS, OptionError, parseSoakOptions, warmupOf } from './options.ts';
import { type ProbeReading, probeAddressOf, probeErrorMessage } from './probes.ts';
import { renderSoakReport, replicaLabel } from './report.ts';
import {
  aggregate,
  counterIncrease,
  everyTimes,
  faultTimes,
  generationsOf,
  metricSum,
  parseRedisInfo,
  perSecondHeld,
  slopePerHour,
  soakTag,
} from './stats.ts';

describe('soak options', () => {
  test('defaults are the hour-long run', () => {
    expect(parseSoakOptions([])).toEqual(DEFAULT_SOAK_OPTIONS);
    expect(DEFAULT_SOAK_OPTIONS).toMatchObject({
      minutes: 60,
      rate: 200,
      replicas: 3,
      rolloutEverySeconds: 180,
    });
  });

  test('every option, both spellings', () => {
    const o = parseSoakOptions([
      '--cluster=local',
      '--minutes',
      '3',
      '--rate=80',
      '--replicas',
      '2',
      '--rollout-every',
      '45',
      '--fault-every=90',
      '--faults',
      'redis-kill,apiserver-restart',
      '--node-port',
      '30195',
      '--namespace',
      'soak-test',
      '--warmup',
      '60',
      '--report',
      'r.html',
      '--skip-install',
    ]);
    expect(o).toMatchObject({
      cluster: 'local',
      minutes: 3,
      rate: 80,
      replicas: 2,
      rolloutEverySeconds: 45,
      faultEverySeconds: 90,
      faults: ['redis-kill', 'apiserver-restart'],
      nodePort: 30195,
      namespace: 'soak-test',
      warmupSeconds: 60,
      reportPath: 'r.html',
      skipInstall: true,
    });
  });

  test('kind: NodePort 30080 (published by cluster/kind) unless given', () => {
    expect(parseSoakOptions(['--cluster', 'kind']).nodePort).toBe(30080);
    expect(parseSoakOptions(['--cluster', 'kind', '--node-port', '30081']).nodePort).toBe(30081);
    expect(parseSoakOptions([]).nodePort).toBe(30190);
  });

  test.each([
    [
      ['--rate', 'x'],
      '--rate: "x" is not allowed; use a whole number of requests per second from 1 to 10000',
    ],
    [['--minutes', '0'], '--minutes: "0" is not allowed'],
    [['--cluster', 'gke'], '--cluster: "gke" is not allowed; use local or kind'],
    [['--rollout-every', '10'], '--rollout-every: 10 is not allowed; use 0 (none) or at least 30 seconds'],
    [['--fault-every', '20'], '--fault-every: 20 is not allowed; use 0 (none) or at least 60 seconds'],
    [['--cluster', 'kind', '--fault-every', '120'], '--fault-every needs --cluster local'],
    [['--faults', 'redis-kill,disk-full'], '--faults: "disk-full" is not allowed'],
    [['--node-port', '80'], '--node-port: "80" is not allowed'],
    [
      ['--minutes', '3', '--warmup', '180'],
      '--warmup: 180 is not allowed; it must be shorter than the run (180 s)',
    ],
    [['--namespace', 'Soak'], '--namespace: "Soak" is not allowed'],
    [['--rate'], '--rate needs a value'],
    [['--rate', '5', '--rate', '6'], '--rate is given twice'],
    [['--duration', '5'], 'unknown option "--duration"'],
    [['--skip-install=yes'], '--skip-install takes no value'],
    [
      ['--from', 'reports/soak-1.html'],
      '--from: "reports/soak-1.html" is not allowed; give a run\'s data file',
    ],
    [
      ['--from', 'reports/soak-1.json', '--rate', '5'],
      '--from draws a recorded run again and runs nothing: --rate does not apply (allowed with it: --report, --warmup)',
    ],
  ])('%j is refused: %s', (argv, message) => {
    expect(() => parseSoakOptions(argv)).toThrow(OptionError);
    expect(() => parseSoakOptions(argv)).toThrow(message);
  });

  test('--from: a recorded run drawn again, with its own report path and warm-up if given', () => {
    const o = parseSoakOptions(['--from', 'reports/soak-1.json', '--warmup', '900']);
    expect(o.from).toBe('reports/soak-1.json');
    expect(o.warmupSeconds).toBe(900);
    expect(o.reportPath).toBeUndefined();
  });

  test('warm-up: as given, else a quarter of the run up to 10 minutes (a retired writer record lives 10 min)', () => {
    expect(warmupOf({ minutes: 60, warmupSeconds: undefined })).toBe(600);
    expect(warmupOf({ minutes: 3, warmupSeconds: undefined })).toBe(45);
    expect(warmupOf({ minutes: 3, warmupSeconds: 10 })).toBe(10);
  });
});

describe('slopes', () => {
  test('a line creeping 1 MB per hour after a warm-up ramp', () => {
    const points = Array.from({ length: 361 }, (_, i) => {
      const t = i * 10;
      const ramp = t < 300 ? (300 - t) * -1e5 : 0; // rising fast during warm-up
      return { t, value: 100e6 + (t / 3600) * 1e6 + ramp };
    });
    const s = slopePerHour(points, 300);
    expect(s?.perHour).toBeCloseTo(1e6, 0);
    expect(s?.points).toBe(331);
    expect(s?.percentPerHour).toBeCloseTo(1, 1);
    // with the ramp the slope is far larger: warm-up matters
    expect(slopePerHour(points, 0)?.perHour).toBeGreaterThan(2e6);
  });

  test('flat with noise is about zero; too few points or one instant give none', () => {
    const flat = Array.from({ length: 100 }, (_, i) => ({ t: i * 10, value: 50 + (i % 2 === 0 ? 1 : -1) }));
    expect(Math.abs(slopePerHour(flat)?.perHour ?? 1)).toBeLessThan(0.5); // 0.2/h on 50: the alternation's own tilt
    expect(slopePerHour(flat.slice(0, 2))).toBeNull();
    expect(slopePerHour([1, 2, 3].map((v) => ({ t: 5, value: v })))).toBeNull();
    expect(slopePerHour([0, 0, 0].map((v, i) => ({ t: i, value: v })))?.percentPerHour).toBeNull();
  });
});

describe('aggregation and parsing', () => {
  test('aggregate', () => {
    expect(aggregate([])).toBeNull();
    expect(aggregate([1, 2, 6])).toEqual({ mean: 3, max: 6, min: 1, count: 3 });
  });

  test('counter increase across sources, a restart counts from zero, a new source waits for an interval', () => {
    const before = new Map([
      ['a', 10],
      ['b', 100],
    ]);
    const after = new Map([
      ['a', 15],
      ['b', 3],
      ['c', 50],
    ]);
    expect(counterIncrease(before, after)).toBe(5 + 3);
  });

  test('metric sums over labels, ignores comments and other metrics', () => {
    const text = [
      '# HELP lastcall_reconcile_total Reconciles.',
      '# TYPE lastcall_reconcile_total counter',
      'lastcall_reconcile_total{controller="counterservice",result="success"} 40',
      'lastcall_reconcile_total{controller="counterservice",result="requeue"} 2',
      'lastcall_reconcile_total_extra 7',
      'lastcall_operator_process_resident_memory_bytes 123456789',
    ].join('\n');
    expect(metricSum(text, 'lastcall_reconcile_total')).toBe(42);
    expect(metricSum(text, 'lastcall_operator_process_resident_memory_bytes')).toBe(123456789);
    expect(metricSum(text, 'absent')).toBeNull();
  });

  test('Redis INFO', () => {
    const info = parseRedisInfo(
      '# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nmaxmemory_policy:noeviction\r\n',
    );
    expect(info).toEqual({
      used_memory: 1048576,
      used_memory_human: '1.00M',
      maxmemory_policy: 'noeviction',
    });
  });

  test('schedules: rollouts every S within the run, faults half-way between rollouts and not in the last 30 s', () => {
    expect(everyTimes(180, 600)).toEqual([180, 360, 540]);
    expect(everyTimes(0, 600)).toEqual([]);
    expect(faultTimes(300, 180, 3600)).toEqual([
      270, 630, 990, 1170, 1530, 1890, 2070, 2430, 2790, 2970, 3330,
    ]);
    expect(faultTimes(60, 0, 180)).toEqual([60, 120]);
    // faults more often than rollouts: one per gap at most
    expect(faultTimes(60, 180, 600)).toEqual([90, 270, 450]);
  });

  test('image tags cycle v1..v6: every rollout changes the tag', () => {
    const tags = Array.from({ length: 14 }, (_, i) => soakTag(i));
    expect(tags).toEqual([1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2]);
    for (let i = 1; i < tags.length; i++) expect(tags[i]).not.toBe(tags[i - 1]);
  });

  test('a sparse line held per second', () => {
    expect(
      perSecondHeld(
        [
          { t: 2.4, value: 5 },
          { t: 0.5, value: 1 },
        ],
        5,
      ),
    ).toEqual([1, 1, 5, 5, 5]);
    expect(perSecondHeld([{ t: 3, value: 7 }], 4)).toEqual([null, null, null, 7]);
  });
});

describe('lines from probe readings', () => {
  const reading = (t: number, rss: number[], op: [string, number, number][], redis = true): ProbeReading => ({
    t,
    redis: redis ? { usedMemoryBytes: 1e6 + t, keys: 3, pingMs: 0.5 } : null,
    workload: rss.map((r, i) => ({ pod: `w${i}`, rssBytes: r, heapUsedBytes: r / 10 })),
    operator: op.map(([pod, rssBytes, reconciles]) => ({
      pod,
      rssBytes,
      heapUsedBytes: rssBytes / 2,
      reconciles,
    })),
    errors: [],
  });

  test('workload mean and max, operator per replica, reconcile rate over restarts, Redis gaps', () => {
    const lines = linesOf([
      reading(0, [100, 200], [['op-a', 50, 10]]),
      reading(10, [110, 210], [['op-a', 52, 30]]),
      reading(20, [], [['op-a', 51, 5]], false),
    ]);
    const by = new Map(lines.map((l) => [l.name, l.points]));
    expect(by.get('workload RSS (mean of pods)')).toEqual([
      { t: 0, value: 150 },
      { t: 10, value: 160 },
    ]);
    expect(by.get('workload RSS (max of pods)')?.map((p) => p.value)).toEqual([200, 210]);
    expect(by.get('operator op-a RSS')?.map((p) => p.value)).toEqual([50, 52, 51]);
    expect(by.get('operator op-a heap used')?.map((p) => p.value)).toEqual([25, 26, 25.5]);
    expect(by.get('workload heap used (mean of pods)')?.map((p) => p.value)).toEqual([15, 16]);
    expect(by.get('operator reconciles')).toEqual([
      { t: 10, value: 2 },
      { t: 20, value: 0.5 },
    ]);
    expect(by.get('redis used_memory')).toHaveLength(2);
    const slopes = slopesOf(lines, 0);
    expect(slopes.find((s) => s.name === 'redis used_memory')?.slope).toBeNull();
    expect(slopes.find((s) => s.name === 'operator op-a RSS')?.max).toBe(52);
    const shown = (name: string) =>
      formatSlope(slopes.find((s) => s.name === name) as (typeof slopes)[number]);
    expect(shown('operator op-a RSS')).toBe('+0.00 MB/h (+352.9 %/h of 0.0 MB)');
    expect(shown('redis used_memory')).toBe('no slope (fewer than 3 readings after warm-up)');
    expect(shown('operator reconciles')).toBe('no slope (fewer than 3 readings after warm-up)');
  });
  test('per replaced pod: its peak at its first reading; pods still running at the end are left out', () => {
    const pod = (name: string, rssBytes: number, heapUsedBytes: number | null = null) => ({
      pod: name,
      rssBytes,
      heapUsedBytes,
    });
    const at = (t: number, workload: ReturnType<typeof pod>[]): ProbeReading => ({
      t,
      redis: null,
      workload,
      operator: [],
      errors: [],
    });
    const by = new Map(
      linesOf([
        at(0, [pod('a', 100, 10), pod('b', 90)]),
        at(5, [pod('a', 130, 12), pod('b', 95)]),
        at(10, [pod('a', 120, 11), pod('c', 80, 8)]),
        at(15, [pod('c', 85, 9)]),
      ]).map((l) => [l.name, l.points]),
    );
    expect(by.get(WORKLOAD_RSS_PER_POD)).toEqual([
      { t: 0, value: 130 },
      { t: 0, value: 95 },
    ]);
    // b never reported a heap: no point rather than a zero
    expect(by.get(WORKLOAD_HEAP_PER_POD)).toEqual([{ t: 0, value: 12 }]);
  });
});

describe('load share of the replaced pods', () => {
  const at = (t: number, pods: [string, number, number | null][]): ProbeReading => ({
    t,
    redis: null,
    workload: pods.map(([pod, rss, completed]) => ({ pod, rssBytes: rss, heapUsedBytes: null, completed })),
    operator: [],
    errors: [],
  });

  test('peak RSS against increments completed, per replaced pod; the pods still running are left out', () => {
    const share = loadShareOf([
      at(0, [
        ['a', 100, 0],
        ['b', 100, 0],
        ['c', 100, 0],
      ]),
      at(10, [
        ['a', 110, 1000],
        ['b', 150, 5000],
        ['c', 130, 3000],
      ]),
      at(20, [['d', 999, 1]]),
    ]);
    expect(share).toEqual({ pods: 3, r: 1, fewest: 1000, most: 5000 });
  });

  test('none from runs recorded without the count, or with fewer than 3 replaced pods', () => {
    expect(
      loadShareOf([
        at(0, [
          ['a', 100, null],
          ['b', 120, null],
          ['c', 90, null],
        ]),
        at(10, []),
      ]),
    ).toBeNull();
    expect(
      loadShareOf([
        at(0, [
          ['a', 100, 5],
          ['b', 120, 6],
        ]),
        at(10, []),
      ]),
    ).toBeNull();
  });

  test('pearson: perfect, inverse, none when a side does not vary', () => {
    expect(pearson([1, 2, 3], [2, 4, 6])).toBeCloseTo(1);
    expect(pearson([1, 2, 3], [6, 4, 2])).toBeCloseTo(-1);
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNull();
    expect(pearson([1, 2], [1, 2])).toBeNull();
  });
});

describe('generations', () => {
  test("points within the window of a group's first join it; max, min and count per group", () => {
    expect(
      generationsOf(
        [
          { t: 190, value: 5 },
          { t: 0, value: 3 },
          { t: 10, value: 7 },
          { t: 200, value: 4 },
          { t: 20, value: 1 },
        ],
        90,
      ),
    ).toEqual([
      { t: 0, max: 7, min: 1, count: 3 },
      { t: 190, max: 5, min: 4, count: 2 },
    ]);
    expect(generationsOf([], 90)).toEqual([]);
  });
});

describe('operator replica labels', () => {
  test("the pod's suffix and its role from its reconcile count", () => {
    const probe = (reconciles: number): ProbeReading => ({
      t: 0,
      redis: null,
      workload: [],
      operator: [
        { pod: 'lastcall-operator-79d9-abcde', rssBytes: 1, heapUsedBytes: null, reconciles },
        { pod: 'lastcall-operator-79d9-fghij', rssBytes: 1, heapUsedBytes: null, reconciles: 0 },
      ],
      errors: [],
    });
    const probes = [probe(0), probe(4)];
    expect(replicaLabel('lastcall-operator-79d9-abcde', probes)).toBe('abcde (leader)');
    expect(replicaLabel('lastcall-operator-79d9-fghij', probes)).toBe('fghij (standby)');
  });
});

describe('probe error messages', () => {
  test("a system error's code, also under fetch's cause; numeric codes; else the message", () => {
    expect(
      probeErrorMessage(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
    ).toBe('ECONNREFUSED');
    expect(
      probeErrorMessage(
        new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }),
      ),
    ).toBe('ECONNRESET');
    expect(probeErrorMessage({ code: 503, message: 'unavailable' })).toBe('503');
    expect(probeErrorMessage(new Error('no process_resident_memory_bytes'))).toBe(
      'no process_resident_memory_bytes',
    );
    expect(probeErrorMessage('x'.repeat(200))).toHaveLength(120);
  });
});

describe('probe addresses', () => {
  test('loopback twins (the local cluster), the addresses themselves where run.sh routed them (kind)', () => {
    const local = probeAddressOf({});
    expect(local('10.244.0.7')).toBe('127.244.0.7');
    expect(local('10.96.12.34')).toBe('127.96.12.34');
    expect(() => local('172.18.0.2')).toThrow(/no loopback twin/);
    const kind = probeAddressOf({ LASTCALL_KIND_ROUTED: '1' });
    expect(kind('10.244.0.7')).toBe('10.244.0.7');
    expect(kind('10.96.12.34')).toBe('10.96.12.34');
    // a Service without a ClusterIP yet must not become localhost
    expect(() => kind('')).toThrow(/not an IPv4 address/);
    expect(probeAddressOf({ LASTCALL_KIND_ROUTED: '0' })('10.244.0.7')).toBe('127.244.0.7');
  });
});

describe('report', () => {
  test('renders every chart and the slopes table from a small result', async () => {
    const probes: ProbeReading[] = [0, 10, 20, 30].map((t) => ({
      t,
      redis: { usedMemoryBytes: 1.2e6, keys: 4, pingMs: 0.4 },
      workload: [{ pod: 'w', rssBytes: 120e6, heapUsedBytes: 20e6 }],
      operator: [{ pod: 'op', rssBytes: 110e6, heapUsedBytes: 20e6, reconciles: t }],
      errors: [],
    }));
    const html = renderSoakReport({
      cluster: 'local',
      minutes: 1,
      rate: 10,
      replicas: 1,
      rolloutEverySeconds: 30,
      faultEverySeconds: 0,
      namespace: 'ns',
      nodePort: 30190,
      counterKey: 'soak:1',
      sent: 600,
      ok: 600,
      failed: 0,
      counter: 600,
      lost: 0,
      failures: {},
      maxLatencyMs: 3,
      rollouts: [
        { index: 1, fromImage: 'w:v1', toImage: 'w:v2', startedAt: 30, readyAt: 40, completedAt: 45 },
      ],
      faults: [],
      drains: { observed: 1, clean: 1, killed: 0, abandoned: 0, crashed: 0, abandonedIncrements: 0 },
      timeline: Array.from({ length: 60 }, (_, t) => ({
        t,
        sent: 10,
        ok: 10,
        failed: 0,
        podsReady: 1,
        podsTerminating: 0,
        counter: t * 10,
      })),
      probes,
      warmupSeconds: 0,
      slopes: slopesOf(linesOf(probes), 0),
      probeErrors: {},
      startedAt: '2026-12-01T00:00:00Z',
      wallSeconds: 70,
      reportPath: null,
    });
    expect(html).toContain('PASS: every answered increment was counted (600/600)');
    expect(html.match(/<svg /g)).toHaveLength(10);
    expect(html).toContain('operator op heap used');
    expect(html).toContain('workload heap used (mean of pods)');
    expect(html).toContain('Workload pods by generation');
  });
});
