import { describe, expect, test } from 'vitest';
import {
  filesOf,
  formatSoak,
  type RunResult,
  summarise,
  testsOf,
  type VitestJsonReport,
} from './aggregate.ts';
import { parseSoakArgs } from './options.ts';

describe('parseSoakArgs', () => {
  test('defaults: 3 runs, not busy, HEAD', () => {
    expect(parseSoakArgs([])).toEqual({ runs: 3, busy: false, keep: false, commit: 'HEAD', vitestArgs: [] });
  });

  test('--runs N, --runs=N, --busy, --keep, --commit', () => {
    expect(parseSoakArgs(['--runs', '5', '--busy'])).toMatchObject({ runs: 5, busy: true });
    expect(parseSoakArgs(['--runs=2', '--keep', '--commit', 'main'])).toMatchObject({
      runs: 2,
      keep: true,
      commit: 'main',
    });
    expect(parseSoakArgs(['--busy', '--help'])).toBe('help');
    expect(parseSoakArgs(['--runs', '1', '--', '--project', 'unit', '--busy'])).toMatchObject({
      runs: 1,
      busy: false,
      vitestArgs: ['--project', 'unit', '--busy'],
    });
  });

  test('errors name the flag', () => {
    expect(() => parseSoakArgs(['--runs', '0'])).toThrow('--runs: "0" is not allowed');
    expect(() => parseSoakArgs(['--runs', '2.5'])).toThrow('--runs');
    expect(() => parseSoakArgs(['--runs'])).toThrow('--runs needs a value');
    expect(() => parseSoakArgs(['--fast'])).toThrow('unknown argument "--fast"');
  });
});

const root = '/tmp/soak/lastcall';

function report(files: { name: string; tests: string[]; ms: number; error?: string }[]): VitestJsonReport {
  const all = files.flatMap((f) => f.tests);
  return {
    numPassedTests: all.filter((s) => s === 'passed').length,
    numFailedTests: all.filter((s) => s === 'failed').length,
    numPendingTests: all.filter((s) => s === 'skipped').length,
    numTodoTests: 0,
    success: all.every((s) => s !== 'failed') && files.every((f) => f.error === undefined),
    testResults: files.map((f) => ({
      name: `${root}/${f.name}`,
      status: f.error !== undefined || f.tests.includes('failed') ? 'failed' : 'passed',
      startTime: 1000,
      endTime: 1000 + f.ms,
      message: f.error ?? '',
      assertionResults: f.tests.map((status, i) => ({
        fullName: `case ${i}`,
        status,
        failureMessages: status === 'failed' ? ['AssertionError: expected 3 to be 1\n    at x.ts:1'] : [],
      })),
    })),
  };
}

function run(index: number, exitCode: number, r: VitestJsonReport | null): RunResult {
  return {
    index,
    exitCode,
    wallMs: 540_000,
    files: r === null ? null : filesOf(r, root),
    tests: r === null ? null : testsOf(r),
    outputTail: 'error TS2322: nope',
  };
}

describe('aggregation', () => {
  const first = report([
    { name: 'test/e2e/load.test.ts', tests: ['passed', 'passed'], ms: 6100 },
    { name: 'operator/budget.unit.test.ts', tests: ['passed'], ms: 40 },
    { name: 'test/cluster/kubelet.test.ts', tests: ['skipped'], ms: 5 },
  ]);
  const second = report([
    { name: 'test/e2e/load.test.ts', tests: ['failed', 'passed'], ms: 9000 },
    { name: 'operator/budget.unit.test.ts', tests: [], ms: 12, error: 'SyntaxError: boom\nmore' },
    { name: 'test/cluster/kubelet.test.ts', tests: ['skipped'], ms: 5 },
  ]);

  test('a file passes, fails (by a test or its own error) or is skipped as a whole', () => {
    expect(filesOf(second, root)).toEqual([
      {
        file: 'operator/budget.unit.test.ts',
        status: 'failed',
        durationMs: 12,
        failures: ['SyntaxError: boom'],
      },
      { file: 'test/cluster/kubelet.test.ts', status: 'skipped', durationMs: 5, failures: [] },
      {
        file: 'test/e2e/load.test.ts',
        status: 'failed',
        durationMs: 9000,
        failures: ['case 0: AssertionError: expected 3 to be 1'],
      },
    ]);
    expect(testsOf(first)).toEqual({ passed: 3, failed: 0, skipped: 1 });
  });

  test('per file: runs passed out of runs, and each run duration (none where a run wrote no report)', () => {
    const rows = summarise([run(1, 0, first), run(2, 1, second), run(3, 2, null)]);
    expect(rows).toEqual([
      { file: 'operator/budget.unit.test.ts', passed: 1, seen: 2, durationsMs: [40, 12, null] },
      { file: 'test/cluster/kubelet.test.ts', passed: 2, seen: 2, durationsMs: [5, 5, null] },
      { file: 'test/e2e/load.test.ts', passed: 1, seen: 2, durationsMs: [6100, 9000, null] },
    ]);
  });

  test('the printout has the table, the totals and every failure', () => {
    const text = formatSoak([run(1, 0, first), run(2, 1, second), run(3, 2, null)], {
      busy: true,
      commit: 'abc123',
    });
    expect(text).toContain('soak of abc123: 3 run(s) of npm test, one core kept busy');
    expect(text).toMatch(/test\/e2e\/load\.test\.ts\s+1\/3\s+6\.1\s+9\.0\s+-/);
    expect(text).toContain('runs: 1 of 3 passed');
    expect(text).toContain('run 1: PASS, 3 passed, 0 failed, 1 skipped, 9 min 0 s');
    expect(text).toContain('run 2: FAIL (exit 1), 1 passed, 1 failed, 1 skipped');
    expect(text).toContain('run 3: FAIL (exit 2), no report');
    expect(text).toContain('run 2: test/e2e/load.test.ts > case 0: AssertionError: expected 3 to be 1');
    expect(text).toContain('run 3: no report; output ends with:\n    error TS2322: nope');
  });
});
