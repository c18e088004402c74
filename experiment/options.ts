/**
 * The experiment's command line: parse and validate, with errors that name the
 * option, the value given and what is allowed. Pure; the CLI maps an
 * OptionError to exit code 2.
 */

import { MAX_ENDPOINT_DELAY_SECONDS } from '../cluster/proxy/endpoint-delay.ts';

export type DrainModeOption = 'graceful' | 'hard';

export type LoadMethod = 'GET' | 'POST';

/** Faults injected once, mid-rollout (experiment/faults.ts). */
export const FAULTS = ['redis-kill', 'operator-kill', 'apiserver-restart'] as const;
export type FaultName = (typeof FAULTS)[number];

/** Where the experiment runs: the local cluster (or the one in KUBECONFIG), or kind (cluster/kind/run.sh up). */
export const CLUSTERS = ['local', 'kind'] as const;
export type ClusterName = (typeof CLUSTERS)[number];

/** Options that act on the local cluster's own processes, refused with --cluster kind. */
const LOCAL_ONLY_OPTIONS = ['--endpoint-delay', '--fault', '--matrix'] as const;

export interface ExperimentOptions {
  /** local: the cluster in KUBECONFIG, else the local cluster (today's behaviour); kind: the kind cluster, in its network namespace */
  cluster: ClusterName;
  /** requests per second vegeta sends to /incr */
  rate: number;
  /** seconds of load; rate * duration requests in all */
  durationSeconds: number;
  replicas: number;
  /** rolling updates (image tag v1 -> v2 -> ...) spread over the load */
  rollouts: number;
  /** graceful: lastcall's drain; hard: the negative control (CounterService spec.drain.mode Hard) */
  mode: DrainModeOption;
  /** leave the CounterService running after the run */
  keep: boolean;
  /** where the HTML report goes; undefined: reports/experiment-<time>.html */
  reportPath: string | undefined;
  /** the Service's fixed NodePort; the load goes to 127.0.0.1:<nodePort> */
  nodePort: number;
  namespace: string;
  /** find the highest rate at which a rollout loses nothing, starting at `rate` */
  sweep: boolean;
  /** the sweep does not go above this rate */
  sweepMaxRate: number;
  /** leave config/default alone: lastcall is installed and an operator runs (e.g. `npm run operator` in a terminal) */
  skipInstall: boolean;
  /**
   * the local cluster's service proxy delay for this run (EndpointSlice change to routing change),
   * seconds; undefined: leave the cluster's as it is
   */
  endpointDelaySeconds: number | undefined;
  /** the CounterService's spec.drain.propagationSeconds (the preStop sleep); undefined: the policy default */
  propagationSeconds: number | undefined;
  /** the CounterService's spec.drain.marginSeconds (extends the drain deadline and the grace period); undefined: the policy default */
  marginSeconds: number | undefined;
  /** the load's method: GET (Go's client retries it on a reused connection the server closed) or POST (never retried) */
  method: LoadMethod;
  /** clients that send their request headers slowly, one after another, for the whole load */
  slowClients: number;
  /** a fault injected once, mid-rollout */
  fault: FaultName | undefined;
  /** run the fault matrix (experiment/matrix.ts) instead of one run */
  matrix: boolean;
  /** with --matrix: only these cells (names from experiment/matrix.ts), in the matrix's order; undefined: all */
  cells?: string[] | undefined;
  /** runs per matrix cell */
  runs: number;
  help: boolean;
}

export const DEFAULT_OPTIONS: ExperimentOptions = {
  cluster: 'local',
  rate: 25,
  durationSeconds: 40,
  replicas: 1,
  rollouts: 1,
  mode: 'graceful',
  keep: false,
  reportPath: undefined,
  nodePort: 30080,
  namespace: 'lastcall-experiment',
  sweep: false,
  sweepMaxRate: 6400,
  skipInstall: false,
  endpointDelaySeconds: undefined,
  propagationSeconds: undefined,
  marginSeconds: undefined,
  method: 'GET',
  slowClients: 0,
  fault: undefined,
  matrix: false,
  runs: 3,
  help: false,
};

export class OptionError extends Error {
  override name = 'OptionError';
}

interface IntegerRange {
  min: number;
  max: number;
  what: string;
}

// Bounds are what this experiment can mean, not what the machine can take:
// the NodePort range is the API server's default --service-node-port-range.
const INTEGER_OPTIONS = {
  '--rate': { key: 'rate', min: 1, max: 10_000, what: 'requests per second' },
  '--duration': { key: 'durationSeconds', min: 5, max: 3600, what: 'seconds' },
  '--replicas': { key: 'replicas', min: 1, max: 20, what: 'replicas' },
  '--rollouts': { key: 'rollouts', min: 0, max: 20, what: 'rolling updates' },
  '--node-port': {
    key: 'nodePort',
    min: 30000,
    max: 32767,
    what: 'a NodePort (the default node port range)',
  },
  '--sweep-max': { key: 'sweepMaxRate', min: 1, max: 10_000, what: 'requests per second' },
  // the CRD's bounds for spec.drain.propagationSeconds
  '--propagation': { key: 'propagationSeconds', min: 0, max: 120, what: 'seconds (the preStop sleep)' },
  // At least 1: a margin of 0 makes the drain deadline exactly the work, which the API server refuses
  // (the workload needs INCREMENT_LATENCY_ALLOWANCE_MS beyond the work; docs/api.md, honest budgets).
  '--margin': { key: 'marginSeconds', min: 1, max: 300, what: 'seconds (spec.drain.marginSeconds)' },
  '--slow-clients': { key: 'slowClients', min: 0, max: 100, what: 'slow clients' },
  '--runs': { key: 'runs', min: 1, max: 20, what: 'runs per matrix cell' },
} as const satisfies Record<string, IntegerRange & { key: keyof ExperimentOptions }>;

const FLAG_OPTIONS = {
  '--keep': 'keep',
  '--sweep': 'sweep',
  '--skip-install': 'skipInstall',
  '--matrix': 'matrix',
  '--help': 'help',
  '-h': 'help',
} as const satisfies Record<string, keyof ExperimentOptions>;

const STRING_OPTIONS = [
  '--cluster',
  '--mode',
  '--report',
  '--namespace',
  '--endpoint-delay',
  '--method',
  '--fault',
  '--cells',
] as const;

const ALL_OPTIONS = [...Object.keys(INTEGER_OPTIONS), ...STRING_OPTIONS, ...Object.keys(FLAG_OPTIONS)];

// RFC 1123 label, what the API server accepts as a namespace name.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function parseOptions(argv: readonly string[]): ExperimentOptions {
  const options: ExperimentOptions = { ...DEFAULT_OPTIONS };
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inlineValue = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    if (!ALL_OPTIONS.includes(name)) {
      throw new OptionError(`unknown option ${JSON.stringify(arg)}; allowed: ${ALL_OPTIONS.join(', ')}`);
    }
    if (seen.has(name)) throw new OptionError(`${name} is given twice`);
    seen.add(name);

    if (name in FLAG_OPTIONS) {
      if (inlineValue !== undefined) throw new OptionError(`${name} takes no value (got "${inlineValue}")`);
      options[FLAG_OPTIONS[name as keyof typeof FLAG_OPTIONS]] = true;
      continue;
    }
    let value = inlineValue;
    if (value === undefined) {
      const next = argv[i + 1];
      if (
        next === undefined ||
        (next.startsWith('--') && ALL_OPTIONS.includes(next.split('=')[0] as string))
      ) {
        throw new OptionError(`${name} needs a value`);
      }
      value = next;
      i++;
    }
    if (name in INTEGER_OPTIONS) {
      const spec = INTEGER_OPTIONS[name as keyof typeof INTEGER_OPTIONS];
      options[spec.key] = parseInteger(name, value, spec);
    } else if (name === '--cluster') {
      if (!(CLUSTERS as readonly string[]).includes(value)) {
        throw new OptionError(`--cluster: "${value}" is not allowed; use ${CLUSTERS.join(' or ')}`);
      }
      options.cluster = value as ClusterName;
    } else if (name === '--mode') {
      if (value !== 'graceful' && value !== 'hard') {
        throw new OptionError(`--mode: "${value}" is not allowed; use graceful or hard`);
      }
      options.mode = value;
    } else if (name === '--report') {
      if (value.trim() === '') throw new OptionError('--report: "" is not allowed; give a file path');
      options.reportPath = value;
    } else if (name === '--namespace') {
      if (!DNS_LABEL.test(value)) {
        throw new OptionError(
          `--namespace: "${value}" is not allowed; use a DNS label (lower-case letters, digits, '-', at most 63)`,
        );
      }
      options.namespace = value;
    } else if (name === '--endpoint-delay') {
      const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
      if (!Number.isFinite(n) || n > MAX_ENDPOINT_DELAY_SECONDS) {
        throw new OptionError(
          `--endpoint-delay: "${value}" is not allowed; use seconds from 0 to ${MAX_ENDPOINT_DELAY_SECONDS} (fractions allowed, e.g. 0.5)`,
        );
      }
      options.endpointDelaySeconds = n;
    } else if (name === '--method') {
      const upper = value.toUpperCase();
      if (upper !== 'GET' && upper !== 'POST') {
        throw new OptionError(`--method: "${value}" is not allowed; use GET or POST`);
      }
      options.method = upper;
    } else if (name === '--fault') {
      if (!(FAULTS as readonly string[]).includes(value)) {
        throw new OptionError(`--fault: "${value}" is not allowed; use one of ${FAULTS.join(', ')}`);
      }
      options.fault = value as FaultName;
    } else if (name === '--cells') {
      const cells = value.split(',').map((c) => c.trim());
      const bad = cells.find((c) => !/^[a-z0-9][-a-z0-9]*$/.test(c));
      if (bad !== undefined) {
        throw new OptionError(
          `--cells: "${bad}" is not allowed; give matrix cell names separated by commas (e.g. post,redis-kill)`,
        );
      }
      options.cells = cells;
    }
  }
  if (options.cluster === 'kind') {
    for (const option of LOCAL_ONLY_OPTIONS) {
      if (seen.has(option)) {
        throw new OptionError(
          `${option} is not allowed with --cluster kind: it acts on the local cluster's own processes ` +
            `(service proxy, kube-apiserver, kubelet); on kind, kube-proxy and the kubelet run in the node container`,
        );
      }
    }
  }
  if (options.fault !== undefined && options.rollouts === 0) {
    throw new OptionError(
      `--fault ${options.fault} needs a rolling update to strike during; drop --rollouts 0`,
    );
  }
  if (options.mode === 'hard' && options.marginSeconds !== undefined) {
    throw new OptionError('--margin is not allowed with --mode hard: the hard mode has no drain to extend');
  }
  if (options.mode === 'hard' && options.propagationSeconds !== undefined) {
    throw new OptionError(
      '--propagation is not allowed with --mode hard: the hard mode has no preStop sleep to set',
    );
  }
  if (options.matrix) {
    for (const other of [
      '--sweep',
      '--fault',
      '--endpoint-delay',
      '--propagation',
      '--method',
      '--slow-clients',
      '--mode',
      '--report',
    ]) {
      if (seen.has(other)) {
        throw new OptionError(`${other} is not allowed with --matrix: each cell of the matrix sets its own`);
      }
    }
  } else if (seen.has('--runs') || seen.has('--cells')) {
    throw new OptionError(
      `${seen.has('--runs') ? '--runs' : '--cells'} is only allowed together with --matrix`,
    );
  }
  if (options.sweep && options.fault !== undefined) {
    throw new OptionError('--fault is not allowed with --sweep: a sweep measures rates, not faults');
  }
  if (options.sweep && options.sweepMaxRate < options.rate) {
    throw new OptionError(
      `--sweep-max: ${options.sweepMaxRate} is not allowed; it must be at least --rate (${options.rate})`,
    );
  }
  if (!options.sweep && seen.has('--sweep-max')) {
    throw new OptionError('--sweep-max is only allowed together with --sweep');
  }
  return options;
}

function parseInteger(name: string, value: string, range: IntegerRange): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    throw new OptionError(
      `${name}: "${value}" is not allowed; use a whole number of ${range.what} from ${range.min} to ${range.max}`,
    );
  }
  return n;
}

export const USAGE = `Usage: npm run experiment -- [options]

Runs the rolling-update experiment: load on /incr through the NodePort, rolling
updates part-way, then the Redis counter against the requests answered.
Uses the cluster in KUBECONFIG, else the local cluster (started when needed).

  --cluster C       local (default: the cluster in KUBECONFIG, else the local cluster,
                    started when needed) or kind (cluster/kind/run.sh up: built, created
                    and installed when needed, kept afterwards; the run happens inside its
                    network namespace; not with --endpoint-delay, --fault, --matrix;
                    remove it with: bash cluster/kind/run.sh down)
  --rate N          requests per second (default ${DEFAULT_OPTIONS.rate})
  --duration S      seconds of load (default ${DEFAULT_OPTIONS.durationSeconds})
  --replicas N      CounterService replicas (default ${DEFAULT_OPTIONS.replicas})
  --rollouts N      rolling updates spread over the load (default ${DEFAULT_OPTIONS.rollouts})
  --mode M          graceful (lastcall's drain) or hard (the negative control)
  --keep            leave the CounterService running afterwards
  --report PATH     HTML report (default reports/experiment-<time>.html)
  --node-port P     the Service's NodePort (default ${DEFAULT_OPTIONS.nodePort})
  --namespace NS    namespace of the experiment (default ${DEFAULT_OPTIONS.namespace})
  --sweep           run at rising rates to find the highest one that loses nothing
  --sweep-max N     highest rate the sweep tries (default ${DEFAULT_OPTIONS.sweepMaxRate})
  --skip-install    do not apply config/default (lastcall is installed and its operator
                    runs, e.g. from a terminal: npm run operator -- --kubeconfig ...)

Harder conditions (issue 11):
  --endpoint-delay S  the local cluster's service proxy routes S seconds after each
                      EndpointSlice change (fractions allowed; the cluster's setting is
                      restored afterwards). Real kube-proxy: ~0.2-1 s; cloud LBs: seconds
  --propagation S     the CounterService's spec.drain.propagationSeconds, the preStop
                      sleep (default: the DrainPolicy's, built-in 5; 0 is the negative control
                      for a slow data path)
  --margin S          the CounterService's spec.drain.marginSeconds (default: the policy's,
                      built-in 3): the drain deadline and the grace period grow by it, and so
                      does the Redis outage a drain can ride out
  --method M          GET (default; Go's client retries it on a reused connection the
                      server closed) or POST (never retried: every failure shows)
  --slow-clients N    N more clients that each send POST /incr with the request headers
                      trickled over ~3 s, one request after another, for the whole load
  --fault F           once, 2 s into the first rolling update: ${FAULTS.join(', ')}
                      (local cluster: processes are SIGKILLed or restarted)
  --matrix            the fault matrix: every cell, --runs N times each (default ${DEFAULT_OPTIONS.runs})
  --cells A,B         with --matrix: only these cells (e.g. post,redis-kill)

Exit code: 0 when nothing was lost or failed (graceful) or when the run
completed (hard); 1 when graceful lost or failed requests; 2 on bad options.`;
