/**
 * npm run test:soak -- --runs N --busy
 *
 * Proves that `npm test` passes every time, also on a busy machine: clones
 * the commit into a temporary directory (what a fresh CI checkout sees, with
 * this checkout's node_modules linked in), runs the whole suite there N times
 * with vitest's JSON reporter, optionally with one core kept busy by a
 * spinning child, and prints per-file pass counts and durations plus the
 * totals. Never retries: a run that fails is reported as failed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, realpathSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { down } from '../../cluster/launcher.ts';
import {
  duration,
  filesOf,
  formatSoak,
  type RunResult,
  testsOf,
  type VitestJsonReport,
} from './aggregate.ts';
import { type CpuHog, startCpuHog } from './hog.ts';
import { parseSoakArgs, soakUsage } from './options.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseSoakArgs>;
  try {
    parsed = parseSoakArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`soak: ${(error as Error).message}\n${soakUsage}\n`);
    return 2;
  }
  if (parsed === 'help') {
    process.stdout.write(`${soakUsage}\n`);
    return 0;
  }
  const options = parsed;
  const commit = git(repoRoot, 'rev-parse', '--verify', `${options.commit}^{commit}`);
  const label = `${commit.slice(0, 12)} (${git(repoRoot, 'log', '-1', '--format=%s', commit).slice(0, 72)})`;
  if (options.commit === 'HEAD' && git(repoRoot, 'status', '--porcelain', '--untracked-files=no') !== '') {
    process.stderr.write('soak: note: uncommitted changes are not part of the soak (it runs the commit)\n');
  }
  const nodeModules = join(repoRoot, 'node_modules');
  if (!existsSync(join(nodeModules, '.bin', 'vitest'))) {
    process.stderr.write('soak: node_modules is missing here; run bash hack/setup.sh first\n');
    return 2;
  }

  const work = await mkdtemp(join(tmpdir(), 'lastcall-soak-'));
  // mkdtemp makes it private (0700), but the local cluster runs the workload's and the operator's
  // pods as their securityContext user, straight from the clone: they must be able to reach it,
  // as they reach any ordinary checkout (else: "Cannot find module .../workload/main.ts").
  await chmod(work, 0o755);
  const clone = join(work, 'lastcall');
  const reports = join(work, 'reports');
  await mkdir(reports);
  process.stdout.write(`soak: cloning ${label} into ${clone}\n`);
  git(
    work,
    'clone',
    '--quiet',
    '--no-checkout',
    git(repoRoot, 'rev-parse', '--path-format=absolute', '--git-common-dir'),
    clone,
  );
  git(clone, 'checkout', '--quiet', '--detach', commit);
  // The same dependencies as this checkout, as `npm ci` from the same lock file would give.
  await symlink(realpathSync(nodeModules), join(clone, 'node_modules'));

  let hog: CpuHog | undefined;
  let interrupted = false;
  // The current run goes on (a Ctrl-C reaches the suite too and ends it), and with it the hog:
  // stopping the hog here would leave the rest of the run on a quiet machine.
  const onSignal = () => {
    interrupted = true;
    process.stderr.write('soak: interrupted; stopping after the current run\n');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const runs: RunResult[] = [];
  try {
    for (let index = 1; index <= options.runs && !interrupted; index++) {
      if (options.busy) hog = await startCpuHog();
      process.stdout.write(
        `soak: run ${index} of ${options.runs}${hog ? ` (CPU hog: PID ${hog.pid})` : ''}, started ${new Date().toISOString()}\n`,
      );
      try {
        runs.push(await runSuite(clone, reports, index, options.vitestArgs));
      } finally {
        await hog?.stop();
        hog = undefined;
        // The suite stops its cluster itself; after a crash this makes sure nothing is left running.
        await down({ stateDir: join(clone, '.lastcall', 'test-cluster') }).catch((error: unknown) =>
          process.stderr.write(`soak: stopping the test cluster of run ${index}: ${String(error)}\n`),
        );
      }
      const last = runs.at(-1) as RunResult;
      process.stdout.write(
        `soak: run ${index}: ${last.exitCode === 0 ? 'PASS' : `FAIL (exit ${last.exitCode})`} in ${duration(last.wallMs)}\n`,
      );
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }

  const summary = formatSoak(runs, { busy: options.busy, commit: label });
  process.stdout.write(`\n${summary}`);
  if (options.keep) {
    await writeFile(join(work, 'soak.txt'), summary);
    process.stdout.write(`soak: kept ${work} (clone, reports/run-N.json and run-N.log, soak.txt)\n`);
  } else {
    await rm(work, { recursive: true, force: true });
  }
  if (interrupted) return 130;
  return runs.length === options.runs && runs.every((r) => r.exitCode === 0) ? 0 : 1;
}

/** One `npm test` in the clone: the full output to run-N.log, file results echoed as they come. */
async function runSuite(
  clone: string,
  reports: string,
  index: number,
  vitestArgs: readonly string[],
): Promise<RunResult> {
  const json = join(reports, `run-${index}.json`);
  const log = createWriteStream(join(reports, `run-${index}.log`));
  const started = Date.now();
  const child = spawn(
    'npm',
    [
      'test',
      '--',
      '--reporter=default',
      '--reporter=./test/support/summary-reporter.ts',
      '--reporter=json',
      `--outputFile.json=${json}`,
      ...vitestArgs,
    ],
    {
      cwd: clone,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
    },
  );
  const tail: string[] = [];
  const onLine = (line: string) => {
    log.write(`${line}\n`);
    tail.push(line);
    if (tail.length > 40) tail.shift();
    // vitest's per-file lines (✓ / ❯ / ×  project  path) and its closing counts
    if (/^\s*[✓❯×↓]\s+\S+\s+\S+\.test\.ts/.test(line) || /^tests: /.test(line)) {
      process.stdout.write(`  ${line.trim()}\n`);
    }
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  const exitCode = await new Promise<number>((resolveExit) => {
    child.on('error', () => resolveExit(127));
    child.on('close', (code, signal) => resolveExit(code ?? (signal ? 128 : 1)));
  });
  await new Promise((resolveEnd) => log.end(resolveEnd));
  const wallMs = Date.now() - started;

  let report: VitestJsonReport | null = null;
  try {
    report = JSON.parse(await readFile(json, 'utf8')) as VitestJsonReport;
  } catch {
    report = null;
  }
  return {
    index,
    exitCode,
    wallMs,
    files: report === null ? null : filesOf(report, clone),
    tests: report === null ? null : testsOf(report),
    outputTail: tail.slice(-15).join('\n'),
  };
}

process.exitCode = await main();
