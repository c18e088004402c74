/**
 * The fault matrix (issue 11): each cell is the rollout experiment under one harder condition,
 * run `runs` times; every run prints sent/2xx/failed/counter/lost, and the end is a Markdown
 * table (the README's and docs/experiment.md's) and one JSON line.
 *
 *   npm run experiment -- --matrix [--runs N] [--duration S] [--rate N]
 *
 * A cell says what it expects: `lossless` (nothing lost, nothing failed), `no-loss` (nothing lost;
 * failures are honest refusals, listed by cause), or `fails` (a negative control: requests must
 * fail, else the condition it controls for was never exercised).
 */
import type { ExperimentResult } from './model.ts';
import { type ExperimentOptions, OptionError } from './options.ts';
import { type ClusterTarget, type RunHooks, runExperiment } from './run.ts';

type Expectation = 'lossless' | 'no-loss' | 'fails';

interface MatrixCell {
  name: string;
  /** what the cell shows, for the table */
  what: string;
  options: Partial<ExperimentOptions>;
  expect: Expectation;
}

/** Real kube-proxy on kind routed new connections to a deleted pod for up to 0.96 s (the brief). */
const KUBE_PROXY_LIKE_DELAY = 1;

export const MATRIX_CELLS: readonly MatrixCell[] = [
  {
    name: 'delay-3s',
    what: 'endpoint delay 3 s, default budget (propagation 5 s)',
    options: { endpointDelaySeconds: 3 },
    expect: 'lossless',
  },
  {
    name: 'delay-3s-propagation-0',
    what: 'endpoint delay 3 s, propagation 0 (negative control for the preStop sleep)',
    options: { endpointDelaySeconds: 3, propagationSeconds: 0 },
    expect: 'fails',
  },
  {
    name: 'post',
    what: 'POST (no client retries), endpoint delay 3 s',
    options: { endpointDelaySeconds: 3, method: 'POST' },
    expect: 'lossless',
  },
  {
    name: 'slow-clients',
    what: 'POST + 4 slow clients (headers over 3 s), endpoint delay 3 s',
    options: { endpointDelaySeconds: 3, method: 'POST', slowClients: 4 },
    expect: 'no-loss',
  },
  {
    name: 'redis-kill',
    what: `Redis SIGKILLed while the old pod drains, POST, endpoint delay ${KUBE_PROXY_LIKE_DELAY} s`,
    options: { endpointDelaySeconds: KUBE_PROXY_LIKE_DELAY, method: 'POST', fault: 'redis-kill' },
    expect: 'no-loss',
  },
  {
    name: 'operator-kill',
    what: `operator leader SIGKILLed while the old pod drains, POST, endpoint delay ${KUBE_PROXY_LIKE_DELAY} s`,
    options: { endpointDelaySeconds: KUBE_PROXY_LIKE_DELAY, method: 'POST', fault: 'operator-kill' },
    expect: 'no-loss',
  },
  {
    name: 'apiserver-restart',
    what: `kube-apiserver restarted while the old pod drains, POST, endpoint delay ${KUBE_PROXY_LIKE_DELAY} s`,
    options: { endpointDelaySeconds: KUBE_PROXY_LIKE_DELAY, method: 'POST', fault: 'apiserver-restart' },
    expect: 'no-loss',
  },
];

/** The cells named by --cells, in the matrix's order; every cell when none are named. */
export function selectCells(names: readonly string[] | undefined): readonly MatrixCell[] {
  if (names === undefined) return MATRIX_CELLS;
  const known = MATRIX_CELLS.map((c) => c.name);
  const unknown = names.find((n) => !known.includes(n));
  if (unknown !== undefined) {
    throw new OptionError(
      `--cells: "${unknown}" is not a cell of the matrix; use some of ${known.join(', ')}`,
    );
  }
  return MATRIX_CELLS.filter((c) => names.includes(c.name));
}

/** The matrix's load unless given: 25/s for 20 s (500 requests), one rolling update at 10 s. */
const MATRIX_DEFAULT_DURATION = 20;

interface MatrixRun {
  cell: string;
  run: number;
  expect: Expectation;
  met: boolean;
  result: ExperimentResult | null;
  error: string | null;
}

export function expectationMet(expect: Expectation, r: Pick<ExperimentResult, 'lost' | 'failed'>): boolean {
  switch (expect) {
    case 'lossless':
      return r.lost === 0 && r.failed === 0;
    case 'no-loss':
      return r.lost === 0;
    case 'fails':
      return r.failed > 0 && r.lost === 0;
  }
}

export async function runMatrix(
  target: ClusterTarget,
  base: ExperimentOptions,
  hooks: RunHooks & { durationGiven?: boolean; cells?: readonly MatrixCell[] } = {},
): Promise<MatrixRun[]> {
  const log = hooks.log ?? (() => {});
  const cells = hooks.cells ?? MATRIX_CELLS;
  const runs: MatrixRun[] = [];
  const durationSeconds = hooks.durationGiven ? base.durationSeconds : MATRIX_DEFAULT_DURATION;
  for (const cell of cells) {
    for (let run = 1; run <= base.runs; run++) {
      log(`matrix: ${cell.name} run ${run}/${base.runs}: ${cell.what}`);
      const options: ExperimentOptions = {
        ...base,
        durationSeconds,
        ...cell.options,
        keep: false,
        matrix: false,
      };
      try {
        const result = await runExperiment(target, options, { log: hooks.log ?? (() => {}) });
        const met = expectationMet(cell.expect, result);
        runs.push({ cell: cell.name, run, expect: cell.expect, met, result, error: null });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        runs.push({ cell: cell.name, run, expect: cell.expect, met: false, result: null, error: message });
      }
      log(`matrix: ${formatMatrixRun(runs.at(-1) as MatrixRun)}`);
    }
  }
  return runs;
}

export function formatMatrixRun(m: MatrixRun): string {
  const head = `${m.cell.padEnd(24)} run ${m.run}`;
  if (m.result === null) return `${head}  did not complete: ${m.error}`;
  const r = m.result;
  const causes = Object.entries(r.failures)
    .map(([cause, n]) => `${n} ${cause}`)
    .join(', ');
  return (
    `${head}  sent ${String(r.sent).padStart(5)}  2xx ${String(r.ok).padStart(5)}  failed ${String(r.failed).padStart(4)}` +
    `  counter ${String(r.counter).padStart(5)}  lost ${String(r.lost).padStart(4)}  ${m.met ? 'as expected' : 'NOT as expected'} (${m.expect})` +
    `  drains ${drainsRecorded(r)}` +
    (causes === '' ? '' : `  [${causes}]`)
  );
}

/** "1/1": replaced pods with a drain record in status.drains, of all the run replaced. */
function drainsRecorded(r: Pick<ExperimentResult, 'drains' | 'drainsMissing'>): string {
  return `${r.drains.length}/${r.drains.length + r.drainsMissing.length}`;
}

/** The Markdown table: one row per run. */
export function matrixTable(
  runs: readonly MatrixRun[],
  cells: readonly MatrixCell[] = MATRIX_CELLS,
): string[] {
  const lines = [
    '| cell | run | sent | 2xx | failed | counter | lost | expected | failures | fault back after | drains recorded |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- |',
  ];
  for (const m of runs) {
    const cell = cells.find((c) => c.name === m.cell);
    const name = `${m.cell}${cell ? `: ${cell.what}` : ''}`;
    if (m.result === null) {
      lines.push(
        `| ${name} | ${m.run} | | | | | | ${m.expect}: **did not complete** | ${m.error ?? ''} | | |`,
      );
      continue;
    }
    const r = m.result;
    const causes = Object.entries(r.failures)
      .map(([cause, n]) => `${n} ${cause}`)
      .join(', ');
    const fault = r.faults?.[0];
    const back =
      fault === undefined
        ? ''
        : fault.recoveredAt === null
          ? 'not back'
          : `${(fault.recoveredAt - fault.at).toFixed(1)} s`;
    lines.push(
      `| ${name} | ${m.run} | ${r.sent} | ${r.ok} | ${r.failed} | ${r.counter} | ${r.lost} | ${m.expect}: ${m.met ? 'yes' : '**no**'} | ${causes} | ${back} | ${drainsRecorded(r)} |`,
    );
  }
  return lines;
}
