/**
 * `npm run experiment -- --cluster kind`: `cluster/kind/run.sh up` (build what is missing, create
 * the network namespace and the kind cluster when absent, load the images, install lastcall, keep
 * it), then this CLI again inside that namespace, where the kind node's NodePorts are published on
 * 127.0.0.1 and its API server answers (the machine's own namespace may dial only loopback):
 * `nsenter --net=/run/netns/<ns> env KUBECONFIG=<kind kubeconfig> LASTCALL_EXPERIMENT_IN_KIND=1
 * LASTCALL_KIND_ROUTED=1 node experiment/cli.ts <the same arguments minus --cluster>`, output
 * streamed, exit code passed on.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../cluster/tools.ts';

/** Set in the re-executed CLI: it runs inside the kind namespace with KUBECONFIG pointing at kind. */
export const IN_KIND_ENV = 'LASTCALL_EXPERIMENT_IN_KIND';

/**
 * Set ('1') for a process inside kind's network namespace, where cluster/kind/run.sh routes the
 * node's pod range and the service range to the node container: pod IPs and ClusterIPs can be
 * dialled as they are (the soak's probes). Never set in the machine's own namespace.
 */
export const KIND_ROUTED_ENV = 'LASTCALL_KIND_ROUTED';

/** The arguments without `--cluster X` / `--cluster=X` (the inner run uses KUBECONFIG). */
export function withoutClusterOption(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--cluster') {
      i++;
      continue;
    }
    if (arg.startsWith('--cluster=')) continue;
    out.push(arg);
  }
  return out;
}

export interface KindUp {
  /** the network namespace to enter; '' for kind's docker provider (no namespace of its own) */
  netns: string;
  kubeconfig: string;
}

/** run.sh up's stdout: its last two lines are the namespace (empty with docker) and the kubeconfig path. */
export function parseUpOutput(stdout: string): KindUp {
  const lines = stdout.replace(/\n+$/, '').split('\n');
  const kubeconfig = lines.at(-1)?.trim() ?? '';
  const netns = lines.length >= 2 ? (lines.at(-2)?.trim() ?? '') : '';
  if (!kubeconfig.startsWith('/')) {
    throw new Error(
      `cluster/kind/run.sh up did not end with a kubeconfig path (last line: ${JSON.stringify(kubeconfig)})`,
    );
  }
  if (netns !== '' && !/^[A-Za-z0-9_.-]+$/.test(netns)) {
    throw new Error(`cluster/kind/run.sh up named an odd network namespace: ${JSON.stringify(netns)}`);
  }
  return { netns, kubeconfig };
}

/** The inner command line: this CLI again, in the namespace, against kind's kubeconfig. */
export function innerCommand(
  up: KindUp,
  argv: readonly string[],
  node: { execPath: string; execArgv: readonly string[] } = process,
  /** the CLI to run again inside: the experiment's, or another one's (npm run soak) */
  cli: string = join(repoRoot, 'experiment', 'cli.ts'),
): string[] {
  const run = [
    'env',
    `KUBECONFIG=${up.kubeconfig}`,
    `${IN_KIND_ENV}=1`,
    // the docker provider has no namespace of its own, and run.sh routes nothing there
    ...(up.netns === '' ? [] : [`${KIND_ROUTED_ENV}=1`]),
    node.execPath,
    ...node.execArgv,
    cli,
    ...withoutClusterOption(argv),
  ];
  return up.netns === '' ? run : ['nsenter', `--net=/run/netns/${up.netns}`, ...run];
}

/** Runs the experiment on kind; resolves to the inner run's exit code. */
export async function runOnKind(
  argv: readonly string[],
  log: (line: string) => void,
  cli: string = join(repoRoot, 'experiment', 'cli.ts'),
): Promise<number> {
  log('cluster: kind: cluster/kind/run.sh up (builds what is missing, creates the cluster when absent)');
  const upOut = await new Promise<string>((resolve, reject) => {
    const child = spawn('bash', [join(repoRoot, 'cluster', 'kind', 'run.sh'), 'up'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(out);
      else {
        // What the build steps printed on stdout may explain the failure.
        if (out !== '') process.stderr.write(out);
        reject(new Error(`cluster/kind/run.sh up failed (${signal ?? `exit code ${code}`})`));
      }
    });
  });
  const up = parseUpOutput(upOut);
  log(
    `cluster: kind: kubeconfig ${up.kubeconfig}` +
      (up.netns === '' ? '' : `, running the experiment inside the network namespace ${up.netns}`),
  );
  const [command, ...args] = innerCommand(up, argv, process, cli);
  return await new Promise<number>((resolve, reject) => {
    const child = spawn(command as string, args, { stdio: 'inherit' });
    // Ctrl-C reaches the inner run through the terminal's process group: wait for its cleanup.
    const keepWaiting = () => {};
    const forward = () => child.kill('SIGTERM');
    process.on('SIGINT', keepWaiting).on('SIGTERM', forward);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      process.off('SIGINT', keepWaiting).off('SIGTERM', forward);
      resolve(code ?? (signal === 'SIGINT' ? 130 : 1));
    });
  });
}
