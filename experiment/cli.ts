/**
 * `npm run experiment -- [options]`: one run (or a sweep), a summary, an HTML
 * report, and as stdout's last line one JSON object.
 * Exit codes: 0 passed, 1 lost or failed (graceful) or could not run, 2 bad options.
 */
import { relative } from 'node:path';
import { repoRoot } from '../cluster/tools.ts';
import { IN_KIND_ENV, runOnKind } from './kind.ts';
import { formatMatrixRun, matrixTable, runMatrix, selectCells } from './matrix.ts';
import type { ExperimentResult } from './model.ts';
import { passed } from './model.ts';
import { OptionError, parseOptions, USAGE } from './options.ts';
import { writeReport } from './report.ts';
import { defaultReportPath, resolveCluster, runExperiment, runSweep } from './run.ts';
import { formatSummary, formatSweep, resultJson } from './summary.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(argv: readonly string[]): Promise<number> {
  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (error instanceof OptionError) {
      process.stderr.write(`experiment: ${error.message}\n(see npm run experiment -- --help)\n`);
      return 2;
    }
    throw error;
  }
  if (options.help) {
    say(USAGE);
    return 0;
  }

  // kind: build/start it, then this CLI again inside its network namespace (experiment/kind.ts).
  if (options.cluster === 'kind' && process.env[IN_KIND_ENV] !== '1') return await runOnKind(argv, say);

  let cells: ReturnType<typeof selectCells>;
  try {
    cells = selectCells(options.cells);
  } catch (error) {
    if (error instanceof OptionError) {
      process.stderr.write(`experiment: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const target = await resolveCluster(say);
  if (options.matrix) {
    const began = Date.now();
    const runs = await runMatrix(target, options, {
      log: say,
      durationGiven: argv.some((a) => a.startsWith('--duration')),
      cells,
    });
    const reportPath = options.reportPath ?? defaultReportPath('matrix');
    const done = runs.flatMap((m) => (m.result === null ? [] : [m.result]));
    await writeReport(reportPath, {
      title: 'lastcall: the fault matrix',
      context: cells.map((c) => `${c.name}: ${c.what} (expected: ${c.expect})`).join('; '),
      runs: done,
    });
    say('');
    for (const m of runs) say(formatMatrixRun(m));
    say('');
    for (const line of matrixTable(runs)) say(line);
    say(`report: ${shown(reportPath)}`);
    say(`took: ${Math.round((Date.now() - began) / 1000)}s`);
    say(
      JSON.stringify({
        matrix: true,
        allAsExpected: runs.every((m) => m.met),
        runs: runs.map((m) => ({
          cell: m.cell,
          run: m.run,
          expect: m.expect,
          met: m.met,
          error: m.error,
          ...(m.result === null ? {} : resultJson(m.result)),
        })),
        reportPath,
      }),
    );
    return runs.every((m) => m.met) ? 0 : 1;
  }
  if (options.sweep) {
    const { sweep, runs } = await runSweep(target, options, { log: say });
    const reportPath = options.reportPath ?? defaultReportPath('sweep');
    await writeReport(reportPath, {
      title: 'lastcall: the highest rate at which a rolling update loses nothing',
      context: `${runs.length} runs of ${options.durationSeconds}s, ${options.replicas} replica(s), ${options.rollouts} rolling update(s) each, graceful drain.`,
      runs,
      sweep,
    });
    for (const line of formatSweep(sweep)) say(line);
    say(`report: ${shown(reportPath)}`);
    const best = runs.filter((r) => r.rate === sweep.highestLosslessRate).at(-1);
    say(
      JSON.stringify({
        ...(best ? resultJson(best) : { sent: 0, ok: 0, failed: 0, counter: 0, lost: 0 }),
        sweep: true,
        highestLosslessRate: sweep.highestLosslessRate,
        lowestLossyRate: sweep.lowestLossyRate,
        points: sweep.points,
        reportPath,
      }),
    );
    return sweep.highestLosslessRate === null ? 1 : 0;
  }

  const result: ExperimentResult = await runExperiment(target, options, { log: say });
  result.reportPath = options.reportPath ?? defaultReportPath(`experiment-${options.mode}`);
  await writeReport(result.reportPath, { title: 'lastcall: rolling update experiment', runs: [result] });
  say('');
  for (const line of formatSummary({ ...result, reportPath: shown(result.reportPath) })) say(line);
  say(JSON.stringify(resultJson(result)));
  return passed(result) ? 0 : 1;
}

function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') ? path : rel || relative(repoRoot, path);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`experiment: ${message}\n`);
    say(JSON.stringify({ error: message }));
    process.exitCode = 1;
  },
);
