/**
 * Pure parts of the soak: one run's vitest JSON report -> per-file results,
 * and N runs -> the per-file table and the totals.
 */
import { relative } from 'node:path';

/** The subset of vitest's JSON reporter output that the soak reads (jest-compatible). */
export interface VitestJsonReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests?: number;
  success: boolean;
  testResults: {
    name: string;
    status: string;
    startTime: number;
    endTime: number;
    message?: string;
    assertionResults: { fullName: string; status: string; failureMessages: string[] }[];
  }[];
}

interface FileRun {
  /** path relative to the clone, e.g. test/e2e/load.test.ts */
  file: string;
  status: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  /** "name: first line of the message" for each failed test (or the file's own error) */
  failures: string[];
}

export interface RunResult {
  /** 1-based */
  index: number;
  /** npm test's exit code (type check and lint included) */
  exitCode: number;
  wallMs: number;
  /** null when the run wrote no report (type check, lint or cluster start-up failed) */
  files: FileRun[] | null;
  tests: { passed: number; failed: number; skipped: number } | null;
  /** the end of the run's output, for a run that failed */
  outputTail: string;
}

export function filesOf(report: VitestJsonReport, root: string): FileRun[] {
  return report.testResults
    .map((r): FileRun => {
      const failed = r.assertionResults.filter((a) => a.status === 'failed');
      const failures = failed.map((a) => `${a.fullName}: ${firstLine(a.failureMessages[0] ?? '')}`);
      const status =
        r.status === 'failed' || failed.length > 0
          ? 'failed'
          : r.assertionResults.some((a) => a.status === 'passed')
            ? 'passed'
            : 'skipped';
      // an error outside any test (a hook, an import) has no assertion of its own
      if (status === 'failed' && failures.length === 0) failures.push(firstLine(r.message ?? 'failed'));
      return { file: relative(root, r.name), status, durationMs: r.endTime - r.startTime, failures };
    })
    .sort((a, b) => a.file.localeCompare(b.file));
}

export function testsOf(report: VitestJsonReport): { passed: number; failed: number; skipped: number } {
  return {
    passed: report.numPassedTests,
    failed: report.numFailedTests,
    skipped: report.numPendingTests + (report.numTodoTests ?? 0),
  };
}

interface FileSummary {
  file: string;
  /** runs in which the file passed (or was skipped as a whole) */
  passed: number;
  /** runs whose report lists the file */
  seen: number;
  /** per run, null where the run has no report */
  durationsMs: (number | null)[];
}

export function summarise(runs: readonly RunResult[]): FileSummary[] {
  const files = new Set<string>();
  for (const run of runs) for (const f of run.files ?? []) files.add(f.file);
  return [...files].sort().map((file) => {
    const entries = runs.map((run) => run.files?.find((f) => f.file === file) ?? null);
    return {
      file,
      passed: entries.filter((e) => e !== null && e.status !== 'failed').length,
      seen: entries.filter((e) => e !== null).length,
      durationsMs: entries.map((e) => (e === null ? null : e.durationMs)),
    };
  });
}

/** The table, the totals and every failure, as printed at the end of a soak. */
export function formatSoak(runs: readonly RunResult[], options: { busy: boolean; commit: string }): string {
  const rows = summarise(runs);
  const width = Math.max(4, ...rows.map((r) => r.file.length));
  const runHeads = runs.map((r) => `run ${r.index}`.padStart(7)).join(' ');
  const lines = [
    `soak of ${options.commit}: ${runs.length} run(s) of npm test${options.busy ? ', one core kept busy' : ''}`,
    '',
    `${'file'.padEnd(width)}  passed  ${runHeads}  (seconds)`,
  ];
  for (const row of rows) {
    const durations = row.durationsMs
      .map((d) => (d === null ? '-' : (d / 1000).toFixed(1)).padStart(7))
      .join(' ');
    lines.push(`${row.file.padEnd(width)}  ${`${row.passed}/${runs.length}`.padStart(6)}  ${durations}`);
  }
  const passedRuns = runs.filter((r) => r.exitCode === 0).length;
  const tests = runs.map((r) =>
    r.tests === null
      ? 'no report'
      : `${r.tests.passed} passed, ${r.tests.failed} failed, ${r.tests.skipped} skipped`,
  );
  lines.push(
    '',
    `runs: ${passedRuns} of ${runs.length} passed`,
    ...runs.map(
      (r, i) =>
        `  run ${r.index}: ${r.exitCode === 0 ? 'PASS' : `FAIL (exit ${r.exitCode})`}, ${tests[i]}, ${duration(r.wallMs)}`,
    ),
  );
  const failures = runs.flatMap((r) =>
    r.files === null
      ? [`  run ${r.index}: no report; output ends with:\n${indent(r.outputTail, '    ')}`]
      : r.files.flatMap((f) => f.failures.map((why) => `  run ${r.index}: ${f.file} > ${why}`)),
  );
  const unexplained = runs.filter(
    (r) => r.exitCode !== 0 && r.files !== null && r.files.every((f) => f.status !== 'failed'),
  );
  for (const r of unexplained) {
    failures.push(
      `  run ${r.index}: exit ${r.exitCode} with no failed file; output ends with:\n${indent(r.outputTail, '    ')}`,
    );
  }
  if (failures.length > 0) lines.push('', 'failures:', ...failures);
  return `${lines.join('\n')}\n`;
}

export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

function firstLine(text: string): string {
  return (text.split('\n').find((l) => l.trim() !== '') ?? '').trim().slice(0, 300);
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((l) => `${prefix}${l}`)
    .join('\n');
}
