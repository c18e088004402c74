/**
 * `npm run soak` options: parse and validate, errors naming the option, the value and what is
 * allowed. Pure; the CLI maps an OptionError to exit code 2.
 */
import { FAULTS, type FaultName, OptionError } from '../options.ts';

export { OptionError };

export type SoakCluster = 'local' | 'kind';

export interface SoakOptions {
  /** local: the local cluster (started when not running); kind: the cluster in KUBECONFIG */
  cluster: SoakCluster;
  minutes: number;
  /** requests per second, the whole run */
  rate: number;
  replicas: number;
  /** a rolling update (next image tag) every this many seconds; 0: none */
  rolloutEverySeconds: number;
  /** a fault (the experiment's list, in turn) every this many seconds; 0: none */
  faultEverySeconds: number;
  /** the faults taken in turn */
  faults: readonly FaultName[];
  /** memory, Redis and operator probes every this many seconds */
  probeEverySeconds: number;
  /** a progress line every this many seconds */
  progressEverySeconds: number;
  /** seconds at the start left out of the memory slopes; undefined: min(600, a quarter of the run) */
  warmupSeconds: number | undefined;
  nodePort: number;
  namespace: string;
  reportPath: string | undefined;
  /** a run's recorded data (reports/soak-<time>.json): render its report and summary again, run nothing */
  from: string | undefined;
  skipInstall: boolean;
  help: boolean;
}

export const DEFAULT_SOAK_OPTIONS: SoakOptions = {
  cluster: 'local',
  minutes: 60,
  rate: 200,
  replicas: 3,
  rolloutEverySeconds: 180,
  faultEverySeconds: 0,
  faults: FAULTS,
  probeEverySeconds: 10,
  progressEverySeconds: 5,
  warmupSeconds: undefined,
  // not 30080/30081/30082: the experiment's and the e2e suites' NodePorts on 127.0.0.1
  nodePort: 30190,
  namespace: 'lastcall-soak',
  reportPath: undefined,
  from: undefined,
  skipInstall: false,
  help: false,
};

interface IntegerSpec {
  key: keyof SoakOptions;
  min: number;
  max: number;
  what: string;
}

const INTEGER_OPTIONS: Record<string, IntegerSpec> = {
  '--minutes': { key: 'minutes', min: 1, max: 1440, what: 'minutes of load' },
  '--rate': { key: 'rate', min: 1, max: 10_000, what: 'requests per second' },
  '--replicas': { key: 'replicas', min: 1, max: 20, what: 'replicas' },
  '--rollout-every': { key: 'rolloutEverySeconds', min: 0, max: 86_400, what: 'seconds (0: no rollouts)' },
  '--fault-every': { key: 'faultEverySeconds', min: 0, max: 86_400, what: 'seconds (0: no faults)' },
  '--probe-every': { key: 'probeEverySeconds', min: 1, max: 600, what: 'seconds' },
  '--progress-every': { key: 'progressEverySeconds', min: 1, max: 600, what: 'seconds' },
  '--warmup': { key: 'warmupSeconds', min: 0, max: 86_400, what: 'seconds' },
  '--node-port': {
    key: 'nodePort',
    min: 30000,
    max: 32767,
    what: 'a NodePort (the default node port range)',
  },
};

const FLAGS: Record<string, keyof SoakOptions> = {
  '--skip-install': 'skipInstall',
  '--help': 'help',
  '-h': 'help',
};

const STRINGS = ['--cluster', '--faults', '--namespace', '--report', '--from'];
/** what --from (no run, a recorded one drawn again) may be combined with */
const WITH_FROM = ['--from', '--report', '--warmup'];
const ALL = [...Object.keys(INTEGER_OPTIONS), ...STRINGS, ...Object.keys(FLAGS)];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** rollouts closer than this overlap: a rollout of 3 pods with a 15 s grace period takes about 40 s */
export const MIN_ROLLOUT_EVERY_SECONDS = 30;
/** faults closer than this do not let the system come back (apiserver-restart takes up to ~15 s) */
export const MIN_FAULT_EVERY_SECONDS = 60;

export function parseSoakOptions(argv: readonly string[]): SoakOptions {
  const o: SoakOptions = { ...DEFAULT_SOAK_OPTIONS };
  const seen = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    if (!ALL.includes(name))
      throw new OptionError(`unknown option ${JSON.stringify(arg)}; allowed: ${ALL.join(', ')}`);
    if (seen.has(name)) throw new OptionError(`${name} is given twice`);
    seen.add(name);
    const flag = FLAGS[name];
    if (flag !== undefined) {
      if (inline !== undefined) throw new OptionError(`${name} takes no value (got "${inline}")`);
      (o as unknown as Record<string, unknown>)[flag] = true;
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || ALL.includes(next.split('=')[0] as string))
        throw new OptionError(`${name} needs a value`);
      value = next;
      i++;
    }
    const spec = INTEGER_OPTIONS[name];
    if (spec !== undefined) {
      (o as unknown as Record<string, unknown>)[spec.key] = parseInteger(name, value, spec);
    } else if (name === '--cluster') {
      if (value !== 'local' && value !== 'kind') {
        throw new OptionError(`--cluster: "${value}" is not allowed; use local or kind`);
      }
      o.cluster = value;
    } else if (name === '--faults') {
      const list = value.split(',').map((s) => s.trim());
      for (const f of list) {
        if (!(FAULTS as readonly string[]).includes(f)) {
          throw new OptionError(
            `--faults: "${f}" is not allowed; use a comma-separated list of ${FAULTS.join(', ')}`,
          );
        }
      }
      o.faults = list as FaultName[];
    } else if (name === '--namespace') {
      if (!DNS_LABEL.test(value)) {
        throw new OptionError(
          `--namespace: "${value}" is not allowed; use a DNS label (lower-case letters, digits, '-', at most 63)`,
        );
      }
      o.namespace = value;
    } else if (name === '--report') {
      if (value.trim() === '') throw new OptionError('--report: "" is not allowed; give a file path');
      o.reportPath = value;
    } else if (name === '--from') {
      if (!value.endsWith('.json'))
        throw new OptionError(
          `--from: "${value}" is not allowed; give a run's data file (reports/soak-<time>.json)`,
        );
      o.from = value;
    }
  }
  if (o.from !== undefined) {
    const other = [...seen].filter((n) => !WITH_FROM.includes(n));
    if (other.length > 0)
      throw new OptionError(
        `--from draws a recorded run again and runs nothing: ${other.join(', ')} does not apply (allowed with it: ${WITH_FROM.slice(1).join(', ')})`,
      );
    return o;
  }
  // kind publishes only 30080 and 30081 on the loopback of its network namespace (cluster/kind),
  // where no other cluster's NodePorts listen
  if (o.cluster === 'kind' && !seen.has('--node-port')) o.nodePort = 30080;
  const seconds = o.minutes * 60;
  if (o.rolloutEverySeconds !== 0 && o.rolloutEverySeconds < MIN_ROLLOUT_EVERY_SECONDS) {
    throw new OptionError(
      `--rollout-every: ${o.rolloutEverySeconds} is not allowed; use 0 (none) or at least ${MIN_ROLLOUT_EVERY_SECONDS} seconds, so one rolling update ends before the next`,
    );
  }
  if (o.faultEverySeconds !== 0 && o.faultEverySeconds < MIN_FAULT_EVERY_SECONDS) {
    throw new OptionError(
      `--fault-every: ${o.faultEverySeconds} is not allowed; use 0 (none) or at least ${MIN_FAULT_EVERY_SECONDS} seconds, so the system is back before the next fault`,
    );
  }
  if (o.faultEverySeconds !== 0 && o.cluster !== 'local') {
    throw new OptionError(
      "--fault-every needs --cluster local: the faults act on the local cluster's processes",
    );
  }
  if (o.warmupSeconds !== undefined && o.warmupSeconds >= seconds) {
    throw new OptionError(
      `--warmup: ${o.warmupSeconds} is not allowed; it must be shorter than the run (${seconds} s)`,
    );
  }
  if (o.rate * seconds > 50_000_000) {
    throw new OptionError(
      `--rate ${o.rate} for ${o.minutes} minutes is ${o.rate * seconds} requests; at most 50,000,000`,
    );
  }
  return o;
}

function parseInteger(name: string, value: string, spec: IntegerSpec): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < spec.min || n > spec.max) {
    throw new OptionError(
      `${name}: "${value}" is not allowed; use a whole number of ${spec.what} from ${spec.min} to ${spec.max}`,
    );
  }
  return n;
}

/** The warm-up left out of the slopes: as given, else min(300 s, a quarter of the run). */
export function warmupOf(o: Pick<SoakOptions, 'warmupSeconds' | 'minutes'>): number {
  return o.warmupSeconds ?? Math.min(600, Math.floor((o.minutes * 60) / 4));
}

export const SOAK_USAGE = `npm run soak -- [options]

Sustained load through the CounterService's NodePort, a rolling update every few minutes, optionally
a fault every few minutes; memory of Redis, the workload pods and the operator sampled throughout.
Ends with the exact accounting, the memory slopes after warm-up, an HTML report and one JSON line.
Exit code 0: nothing lost, nothing failed; 1: anything lost or failed, or the run could not complete;
2: bad options.

  --cluster local|kind     local (default): the local cluster (npm run cluster), started when not
                           running; kind: cluster/kind/run.sh up, then the run inside its network
                           namespace, NodePort 30080 (pods, Redis and the operator are probed
                           on their own addresses, which cluster/kind/run.sh routes there)
  --minutes M              minutes of load (default 60)
  --rate R                 requests per second (default 200)
  --replicas N             CounterService replicas (default 3)
  --rollout-every S        a rolling update (image tag v1 -> v2 -> ...) every S seconds (default 180; 0: none)
  --fault-every S          a fault every S seconds, taken in turn from --faults (default 0: none; local only)
  --faults LIST            comma-separated, from ${FAULTS.join(', ')} (default: all)
  --probe-every S          memory, Redis and operator samples every S seconds (default 10)
  --progress-every S       a progress line every S seconds (default 5)
  --warmup S               seconds left out of the memory slopes (default min(600, a quarter of the run))
  --node-port P            the Service's NodePort, load to 127.0.0.1:P (default 30190)
  --namespace NS           where Redis and the CounterService live (default lastcall-soak)
  --report PATH            the HTML report (default reports/soak-<time>.html)
  --skip-install           do not apply config/default
  --from DATA              run nothing: draw a recorded run (reports/soak-<time>.json) again with this
                           version's lines, slopes and report (with --report, --warmup)
  --help`;
