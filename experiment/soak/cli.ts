/**
 * `npm run soak -- [options]` (issue 14): sustained load, a rolling update every few minutes,
 * optionally faults, memory sampled throughout; a summary with the memory slopes, an HTML report,
 * and as stdout's last line one JSON object.
 * Exit codes: 0 nothing lost or failed, 1 lost or failed or could not run, 2 bad options.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IN_KIND_ENV, runOnKind } from '../kind.ts';
import { defaultReportPath, resolveCluster } from '../run.ts';
import { linesOf, slopesOf } from './lines.ts';
import { OptionError, parseSoakOptions, SOAK_USAGE, type SoakOptions } from './options.ts';
import { writeSoakReport } from './report.ts';
import { runSoak, type SoakResult, soakPassed } from './run.ts';
import { formatSoakSummary, soakJson } from './summary.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(argv: readonly string[]): Promise<number> {
  // Inside kind's namespace (the re-run below): the arguments come without --cluster
  // (experiment/kind.ts drops it); kind's own defaults (NodePort 30080) and labels still apply.
  const inKind = process.env[IN_KIND_ENV] === '1';
  let options: SoakOptions;
  try {
    options = parseSoakOptions(inKind ? ['--cluster', 'kind', ...argv] : argv);
  } catch (error) {
    if (error instanceof OptionError) {
      process.stderr.write(`soak: ${error.message}\n(see npm run soak -- --help)\n`);
      return 2;
    }
    throw error;
  }
  if (options.help) {
    say(SOAK_USAGE);
    return 0;
  }
  if (options.from !== undefined) return await drawAgain(options.from, options);
  // kind: build/start it with cluster/kind/run.sh up, then this CLI again inside its network
  // namespace with KUBECONFIG pointing at it (experiment/kind.ts, as npm run experiment does).
  if (options.cluster === 'kind' && !inKind)
    return await runOnKind(argv, say, fileURLToPath(import.meta.url));
  // local: the local cluster, whatever KUBECONFIG says (resolveCluster takes KUBECONFIG when set)
  if (!inKind) delete process.env.KUBECONFIG;
  const target = await resolveCluster(say);
  const result = await runSoak(target, options, { log: say });
  result.reportPath = options.reportPath ?? defaultReportPath('soak');
  await writeSoakReport(
    result.reportPath,
    result,
    `Cluster: ${options.cluster}. Machine: ${process.env.LASTCALL_MACHINE ?? 'this machine'}.`,
  );
  // every reading, for a second look at a line (the report draws them; this keeps the numbers)
  const dataPath = `${result.reportPath.replace(/\.html$/, '')}.json`;
  await writeFile(dataPath, `${JSON.stringify(result)}\n`);
  say('');
  say(`data: ${shown(dataPath)}`);
  for (const line of formatSoakSummary({ ...result, reportPath: shown(result.reportPath) })) say(line);
  say(JSON.stringify(soakJson(result)));
  return soakPassed(result) ? 0 : 1;
}

/**
 * A recorded run drawn again: its readings are the data, the lines, slopes and report are this
 * version's (a line added after the run, a different warm-up). The verdict is the run's own.
 */
async function drawAgain(dataPath: string, options: SoakOptions): Promise<number> {
  let result: SoakResult;
  try {
    result = JSON.parse(await readFile(dataPath, 'utf8')) as SoakResult;
  } catch (error) {
    process.stderr.write(
      `soak: --from ${dataPath}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return 2;
  }
  if (!Array.isArray(result.probes) || !Array.isArray(result.timeline)) {
    process.stderr.write(`soak: --from ${dataPath}: not a soak run's data (no probes or timeline)\n`);
    return 2;
  }
  result.warmupSeconds = options.warmupSeconds ?? result.warmupSeconds;
  result.slopes = slopesOf(linesOf(result.probes), result.warmupSeconds);
  result.reportPath = options.reportPath ?? dataPath.replace(/\.json$/, '.html');
  await writeSoakReport(
    result.reportPath,
    result,
    `Cluster: ${result.cluster}. Drawn again from ${shown(dataPath)}.`,
  );
  for (const line of formatSoakSummary({ ...result, reportPath: shown(result.reportPath) })) say(line);
  say(JSON.stringify(soakJson(result)));
  return soakPassed(result) ? 0 : 1;
}

function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith('..') ? path : rel;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`soak: ${message}\n`);
    say(JSON.stringify({ error: message }));
    process.exitCode = 1;
  },
);
