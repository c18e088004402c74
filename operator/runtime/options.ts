import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/** The operator process configuration: flags win over environment variables, which win over defaults. */
export interface OperatorOptions {
  /** Path of a kubeconfig file; undefined: in-cluster when KUBERNETES_SERVICE_HOST is set, else KUBECONFIG/~/.kube/config. */
  kubeconfig: string | undefined;
  metricsPort: number;
  /** /metrics over HTTPS, for callers the API server authenticates and authorizes (kubebuilder v4). */
  metricsSecure: boolean;
  /** Directory with tls.crt and tls.key for the metrics server; undefined: a self-signed one. */
  metricsCertDir: string | undefined;
  healthPort: number;
  /** Address the metrics and health servers listen on. */
  bindAddress: string;
  leaderElect: boolean;
  /** Reconcile CounterServices of this namespace only; undefined: all namespaces. */
  watchNamespace: string | undefined;
  /** Namespace of the leader-election Lease. */
  leaseNamespace: string;
  leaseName: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  /** This replica's identity in the Lease and in events. */
  identity: string;
  concurrency: number;
  /** The API server ends each watch after about this long; the reflector watches again. */
  watchTimeoutSeconds: number;
  /** How long SIGTERM waits for in-flight reconciles before exiting anyway. */
  shutdownTimeoutSeconds: number;
  logLevel: string;
}

interface OptionSpec {
  env: string;
  kind: 'port' | 'int' | 'bool' | 'string' | 'level';
  min?: number;
  max?: number;
  help: string;
}

const specs = {
  kubeconfig: {
    env: 'KUBECONFIG_PATH',
    kind: 'string',
    help: 'kubeconfig file (default: in-cluster or KUBECONFIG)',
  },
  'metrics-port': { env: 'METRICS_PORT', kind: 'port', help: 'port of /metrics (0: pick a free one)' },
  'metrics-secure': {
    env: 'METRICS_SECURE',
    kind: 'bool',
    help: 'serve /metrics over HTTPS to callers allowed by TokenReview + SubjectAccessReview (false: plain HTTP, anyone)',
  },
  'metrics-cert-dir': {
    env: 'METRICS_CERT_DIR',
    kind: 'string',
    help: 'directory with tls.crt and tls.key for /metrics (default: a self-signed certificate)',
  },
  'health-port': {
    env: 'HEALTH_PORT',
    kind: 'port',
    help: 'port of /healthz and /readyz (0: pick a free one)',
  },
  'bind-address': {
    env: 'BIND_ADDRESS',
    kind: 'string',
    help: 'address the servers listen on (default: HOST, else 0.0.0.0)',
  },
  'leader-elect': {
    env: 'LEADER_ELECT',
    kind: 'bool',
    help: 'hold a Lease so that only one replica reconciles',
  },
  namespace: { env: 'POD_NAMESPACE', kind: 'string', help: 'namespace of the leader-election Lease' },
  'watch-namespace': {
    env: 'WATCH_NAMESPACE',
    kind: 'string',
    help: 'reconcile CounterServices in this namespace only (default: all namespaces)',
  },
  'lease-name': { env: 'LEASE_NAME', kind: 'string', help: 'name of the leader-election Lease' },
  'lease-duration': {
    env: 'LEASE_DURATION_SECONDS',
    kind: 'int',
    min: 1,
    max: 3600,
    help: 'seconds a lease holds',
  },
  'renew-deadline': {
    env: 'RENEW_DEADLINE_SECONDS',
    kind: 'int',
    min: 1,
    max: 3600,
    help: 'seconds the leader may fail to renew',
  },
  'retry-period': {
    env: 'RETRY_PERIOD_SECONDS',
    kind: 'int',
    min: 1,
    max: 600,
    help: 'seconds between lease attempts',
  },
  identity: {
    env: 'POD_NAME',
    kind: 'string',
    help: 'identity of this replica (default: host name + random suffix)',
  },
  concurrency: {
    env: 'CONCURRENCY',
    kind: 'int',
    min: 1,
    max: 256,
    help: 'CounterServices reconciled in parallel',
  },
  'watch-timeout': {
    env: 'WATCH_TIMEOUT_SECONDS',
    kind: 'int',
    min: 1,
    max: 3600,
    help: 'seconds per watch request',
  },
  'shutdown-timeout': {
    env: 'SHUTDOWN_TIMEOUT_SECONDS',
    kind: 'int',
    min: 1,
    max: 600,
    help: 'seconds to finish in-flight work on SIGTERM',
  },
  'log-level': { env: 'LOG_LEVEL', kind: 'level', help: 'trace, debug, info, warn, error or fatal' },
} as const satisfies Record<string, OptionSpec>;

type Flag = keyof typeof specs;

const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export class OptionsError extends Error {
  override name = 'OptionsError';
}

function usage(): string {
  return Object.entries(specs)
    .map(([flag, spec]) => `  --${flag.padEnd(18)} ${spec.help} [env ${spec.env}]`)
    .join('\n');
}

const inClusterNamespaceFile = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** Parses argv and the environment; throws OptionsError naming the flag, the value and what is allowed. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): OperatorOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: Object.fromEntries(Object.keys(specs).map((flag) => [flag, { type: 'string' as const }])),
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new OptionsError(`${(err as Error).message}\nflags:\n${usage()}`);
  }
  const raw = (flag: Flag): { text: string; source: string } | undefined => {
    const fromFlag = values[flag];
    if (typeof fromFlag === 'string') return { text: fromFlag, source: `--${flag}` };
    const fromEnv = env[specs[flag].env];
    if (fromEnv !== undefined && fromEnv !== '') return { text: fromEnv, source: specs[flag].env };
    return undefined;
  };
  const int = (flag: Flag, fallback: number): number => {
    const value = raw(flag);
    if (!value) return fallback;
    const spec: OptionSpec = specs[flag];
    const min = spec.kind === 'port' ? 0 : (spec.min ?? 0);
    const max = spec.kind === 'port' ? 65535 : (spec.max ?? Number.MAX_SAFE_INTEGER);
    const n = Number(value.text);
    if (!/^\d+$/.test(value.text.trim()) || n < min || n > max) {
      throw new OptionsError(
        `${value.source}=${JSON.stringify(value.text)}: must be an integer from ${min} to ${max}`,
      );
    }
    return n;
  };
  const bool = (flag: Flag, fallback: boolean): boolean => {
    const value = raw(flag);
    if (!value) return fallback;
    if (value.text === 'true') return true;
    if (value.text === 'false') return false;
    throw new OptionsError(`${value.source}=${JSON.stringify(value.text)}: must be true or false`);
  };
  const text = (flag: Flag, fallback: string): string => raw(flag)?.text ?? fallback;

  const logLevel = text('log-level', 'info');
  if (!levels.includes(logLevel)) {
    const source = raw('log-level')?.source ?? 'LOG_LEVEL';
    throw new OptionsError(`${source}=${JSON.stringify(logLevel)}: must be one of ${levels.join(', ')}`);
  }
  const kubeconfig = raw('kubeconfig')?.text;
  if (kubeconfig !== undefined && !existsSync(kubeconfig)) {
    throw new OptionsError(`--kubeconfig=${JSON.stringify(kubeconfig)}: no such file`);
  }
  const leaseDurationSeconds = int('lease-duration', 15);
  const renewDeadlineSeconds = int('renew-deadline', 10);
  const retryPeriodSeconds = int('retry-period', 2);
  // client-go refuses these combinations too: a leader must give up before its lease can expire.
  if (renewDeadlineSeconds >= leaseDurationSeconds) {
    throw new OptionsError(
      `--renew-deadline=${renewDeadlineSeconds}: must be less than --lease-duration=${leaseDurationSeconds}`,
    );
  }
  if (retryPeriodSeconds >= renewDeadlineSeconds) {
    throw new OptionsError(
      `--retry-period=${retryPeriodSeconds}: must be less than --renew-deadline=${renewDeadlineSeconds}`,
    );
  }
  return {
    kubeconfig,
    metricsPort: int('metrics-port', 8080),
    metricsSecure: bool('metrics-secure', true),
    metricsCertDir: certDir(raw('metrics-cert-dir')),
    healthPort: int('health-port', 8081),
    // HOST as in the workload: the local cluster's image map sets it to the pod's loopback twin,
    // where two replicas on one machine must listen instead of sharing 0.0.0.0.
    bindAddress: text('bind-address', env.HOST || '0.0.0.0'),
    leaderElect: bool('leader-elect', true),
    watchNamespace: raw('watch-namespace')?.text,
    leaseNamespace: text('namespace', defaultNamespace()),
    leaseName: text('lease-name', 'lastcall-operator'),
    leaseDurationSeconds,
    renewDeadlineSeconds,
    retryPeriodSeconds,
    identity: text('identity', `${hostname()}-${randomBytes(4).toString('hex')}`),
    concurrency: int('concurrency', 4),
    watchTimeoutSeconds: int('watch-timeout', 300),
    shutdownTimeoutSeconds: int('shutdown-timeout', 25),
    logLevel,
  };
}

function certDir(value: { text: string; source: string } | undefined): string | undefined {
  if (!value) return undefined;
  for (const file of ['tls.crt', 'tls.key']) {
    if (!existsSync(join(value.text, file))) {
      throw new OptionsError(`${value.source}=${JSON.stringify(value.text)}: no ${file} in it`);
    }
  }
  return value.text;
}

function defaultNamespace(): string {
  try {
    return readFileSync(inClusterNamespaceFile, 'utf8').trim() || 'lastcall-system';
  } catch {
    return 'lastcall-system';
  }
}
