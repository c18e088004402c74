/**
 * `npm run demo`: from a fresh clone (after `npm ci`), the whole story in one
 * command. Builds the upstream tools if needed, starts the local cluster,
 * deploys lastcall, runs the seed experiment twice (graceful, then hard, the
 * negative control), prints the two results side by side and leaves the
 * cluster running for kubectl.
 */
import { relative } from 'node:path';
import { up } from '../cluster/launcher.ts';
import { ensureTools, repoRoot } from '../cluster/tools.ts';
import type { ExperimentResult } from './model.ts';
import { DEFAULT_OPTIONS } from './options.ts';
import { writeReport } from './report.ts';
import { COUNTER_SERVICE_NAME, defaultReportPath, runExperiment } from './run.ts';
import { prepare } from './setup.ts';
import { formatSideBySide, formatSummary, verdict } from './summary.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);
const since = (start: number) => `${Math.round((Date.now() - start) / 1000)}s`;

async function main(): Promise<number> {
  const start = Date.now();
  say('lastcall demo: a rolling update under load, with and without a graceful drain');
  say('');
  say(
    '1/4 tools: kube-apiserver, etcd, kubectl, vegeta ... (built once from pinned Go modules, then cached)',
  );
  await ensureTools((line) => say(`    ${line}`));
  say('2/4 local cluster: etcd, API server, controllers, scheduler, a process kubelet and a service proxy');
  const cluster = await up({ onProgress: (line) => say(`    ${line}`) });
  const target = { kubeconfig: cluster.kubeconfig, binDir: cluster.binDir };
  say(`3/4 deploying lastcall (config/default) and Redis (config/samples) [${since(start)}]`);
  await prepare(target, DEFAULT_OPTIONS.namespace, { log: (line) => say(`    ${line}`) });

  say(
    `4/4 the experiment: ${DEFAULT_OPTIONS.rate}/s for ${DEFAULT_OPTIONS.durationSeconds}s, one rolling update`,
  );
  const runs: ExperimentResult[] = [];
  for (const mode of ['graceful', 'hard'] as const) {
    say('');
    say(
      `--- ${mode} ${mode === 'hard' ? '(the negative control: no preStop, exit at SIGTERM)' : "(lastcall's drain)"}`,
    );
    // every fifth progress line: the demo is read by people, the JSON by programs
    let lines = 0;
    const result = await runExperiment(
      target,
      { ...DEFAULT_OPTIONS, mode, keep: mode === 'hard' },
      { log: (line) => (/^\s*\d+s\s+sent/.test(line) && lines++ % 5 !== 0 ? undefined : say(`    ${line}`)) },
    );
    runs.push(result);
    for (const line of formatSummary(result)) say(`    ${line}`);
  }

  const reportPath = defaultReportPath('demo');
  for (const r of runs) r.reportPath = reportPath;
  await writeReport(reportPath, {
    title: 'lastcall demo: the same rolling update, graceful and hard',
    context: `Seed experiment: ${DEFAULT_OPTIONS.rate} requests/s for ${DEFAULT_OPTIONS.durationSeconds}s through a NodePort, one rolling update (image v1 -> v2) part-way, 5 s of work per request.`,
    runs,
  });

  const [graceful, hard] = runs as [ExperimentResult, ExperimentResult];
  const ok = graceful.lost === 0 && graceful.failed === 0 && hard.lost > 0;
  say('');
  say(`result: ${formatSideBySide(runs)}`);
  say(`        ${verdict(graceful)}`);
  say(`        ${verdict(hard)}`);
  say(`report: ${relative(process.cwd(), reportPath) || reportPath} (open it in a browser)`);
  say(`took:   ${since(start)}`);
  say('');
  say('The local cluster keeps running. Use it with kubectl:');
  say('  eval "$(npm run --silent cluster -- env)"   # sets KUBECONFIG, puts its kubectl first on PATH');
  say(`  (or: export KUBECONFIG=${cluster.kubeconfig}; the matching kubectl is ${cluster.binDir}/kubectl)`);
  say('  kubectl get counterservices -A');
  say(
    `  kubectl -n ${DEFAULT_OPTIONS.namespace} describe counterservice ${COUNTER_SERVICE_NAME}   # the hard run, kept: see its HardExit event`,
  );
  say('  kubectl explain counterservice.spec.drain');
  say('Run it again with options: npm run experiment -- --help');
  say('Stop the cluster:          npm run cluster -- down');
  say(
    JSON.stringify({
      graceful: summaryOf(graceful),
      hard: summaryOf(hard),
      passed: ok,
      reportPath,
      seconds: (Date.now() - start) / 1000,
    }),
  );
  return ok ? 0 : 1;
}

function summaryOf(r: ExperimentResult) {
  return {
    sent: r.sent,
    ok: r.ok,
    failed: r.failed,
    counter: r.counter,
    lost: r.lost,
    rolloutSeconds: r.rolloutSeconds,
  };
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
    process.stderr.write(
      `(the cluster, if it started, keeps running; stop it with: npm run cluster -- down; repo ${repoRoot})\n`,
    );
    process.exitCode = 1;
  },
);
