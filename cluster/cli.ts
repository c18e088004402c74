// npm run cluster -- up | down | status | env | restart NAME | tools [--state-dir DIR] [--control-plane] [--endpoint-delay S] [--json]
import { parseArgs } from 'node:util';
import {
  type ComponentSet,
  defaultStateDir,
  down,
  restartableComponents,
  restartComponent,
  status,
  up,
} from './launcher.ts';
import { parseEndpointDelay } from './proxy/endpoint-delay.ts';
import { ensureOpsTools, ensureTools } from './tools.ts';

const usage = `usage: npm run cluster -- <command> [options]

commands:
  up        start the local cluster (or report the one already running)
  down      stop every process of the cluster and remove its state
  status    show what runs, where, and where the logs are
  env       print shell exports; use as: eval "$(npm run --silent cluster -- env)"
  restart NAME  stop one component and start it again (${restartableComponents.join(', ')})
  tools     find (or build, once, under the same lock as every test run) the upstream binaries and
            helm/promtool; prints their two bin directories

options:
  --state-dir DIR     state directory (default ${defaultStateDir})
  --control-plane     up: start etcd, kube-apiserver, kube-controller-manager and kube-scheduler only (no node)
  --endpoint-delay S  up: seconds between an EndpointSlice change and the service proxy's routing
                      change (default 0; fractions allowed). Recorded in the cluster's state; on a
                      running cluster it takes effect at once (npm run cluster -- up --endpoint-delay 0
                      sets it back). Real kube-proxy takes about 0.2-1 s, cloud load balancers seconds.
  --json              status: print JSON
`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${usage}`);
  process.exit(2);
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      'state-dir': { type: 'string' },
      'control-plane': { type: 'boolean', default: false },
      'endpoint-delay': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}
try {
  parsed = parse();
} catch (error) {
  fail((error as Error).message);
}
const { values, positionals } = parsed;
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const [command, ...extra] = positionals;
if (command === undefined) fail('missing command');
const restartTarget = command === 'restart' ? extra.shift() : undefined;
if (command === 'restart' && restartTarget === undefined) {
  fail(`restart: name the component (${restartableComponents.join(', ')})`);
}
if (extra.length > 0) fail(`unexpected argument(s): ${extra.join(' ')}`);
let endpointDelaySeconds: number | undefined;
if (values['endpoint-delay'] !== undefined) {
  if (command !== 'up') fail('--endpoint-delay is an option of up');
  if (values['control-plane'])
    fail('--endpoint-delay needs the node (its service proxy): drop --control-plane');
  try {
    endpointDelaySeconds = parseEndpointDelay(values['endpoint-delay'], '--endpoint-delay');
  } catch (error) {
    fail((error as Error).message);
  }
}
const stateDir = values['state-dir'];
const progress = (line: string) => process.stderr.write(`${line}\n`);

try {
  switch (command) {
    case 'up': {
      const components: ComponentSet = values['control-plane'] ? 'control-plane' : 'all';
      const cluster = await up({
        stateDir,
        components,
        onProgress: progress,
        ...(endpointDelaySeconds === undefined ? {} : { endpointDelaySeconds }),
      });
      const envCommand = `npm run --silent cluster -- env${stateDir === undefined ? '' : ` --state-dir ${shellQuote(stateDir)}`}`;
      process.stdout.write(
        `cluster up: API server ${cluster.server}\nkubeconfig: ${cluster.kubeconfig}\n` +
          `use it: eval "$(${envCommand})"\n`,
      );
      break;
    }
    case 'down':
      await down({ stateDir, onProgress: progress });
      process.stdout.write('cluster down\n');
      break;
    case 'status': {
      const current = await status({ stateDir });
      if (values.json) {
        process.stdout.write(`${JSON.stringify(current, null, 2)}\n`);
      } else {
        process.stdout.write(formatStatus(current));
      }
      process.exitCode = current.running ? 0 : 1;
      break;
    }
    case 'restart': {
      const { downSeconds } = await restartComponent(restartTarget as string, {
        stateDir,
        onProgress: progress,
      });
      process.stdout.write(`${restartTarget} restarted (down ${downSeconds.toFixed(1)} s)\n`);
      break;
    }
    case 'env': {
      const current = await status({ stateDir });
      if (current.kubeconfig === undefined || current.binDir === undefined) {
        process.stderr.write(`no cluster in ${current.stateDir}; start one with: npm run cluster -- up\n`);
        process.exit(1);
      }
      // The matching kubectl comes first on PATH, so `kubectl` talks the cluster's version.
      process.stdout.write(`export KUBECONFIG=${shellQuote(current.kubeconfig)}\n`);
      process.stdout.write(`export PATH=${shellQuote(current.binDir)}:"$PATH"\n`);
      break;
    }
    case 'tools':
      process.stdout.write(`${await ensureTools(progress)}\n${await ensureOpsTools(progress)}\n`);
      break;
    default:
      fail(`unknown command: ${command}`);
  }
} catch (error) {
  process.stderr.write(`cluster ${command} failed: ${(error as Error).message}\n`);
  process.exit(1);
}

function formatStatus(current: Awaited<ReturnType<typeof status>>): string {
  if (current.components.length === 0) return `no cluster in ${current.stateDir}\n`;
  const lines = [
    `cluster in ${current.stateDir}: ${current.running ? 'running' : 'NOT healthy'}`,
    `API server: ${current.server ?? '?'}`,
    `kubeconfig: ${current.kubeconfig ?? '?'}`,
    ...(current.endpointDelaySeconds
      ? [
          `service proxy endpoint delay: ${current.endpointDelaySeconds} s (EndpointSlice change to routing change)`,
        ]
      : []),
    ...(current.network === undefined
      ? []
      : [
          `network ${current.network.index}: pods ${current.network.podNetwork}, services ${current.network.serviceNetwork} (loopback twins 127.x.y.z)`,
        ]),
    '',
  ];
  const width = Math.max(...current.components.map((c) => c.name.length));
  for (const component of current.components) {
    const state = component.alive ? 'running' : 'DEAD   ';
    const memory = component.rssBytes === undefined ? '' : `${Math.round(component.rssBytes / 2 ** 20)} MiB`;
    lines.push(
      `${component.name.padEnd(width)}  ${state}  pid ${String(component.pid).padEnd(7)} ${memory.padStart(8)}  ${component.endpoint}  log ${component.log}`,
    );
    if (component.logTail !== undefined) {
      lines.push(...component.logTail.split('\n').map((line) => `    | ${line}`));
    }
  }
  const total = current.components.reduce((sum, component) => sum + (component.rssBytes ?? 0), 0);
  lines.push('', `memory (RSS of the components' main processes): ${Math.round(total / 2 ** 20)} MiB`);
  lines.push(`pod process groups: ${current.podProcessGroups}`);
  return `${lines.join('\n')}\n`;
}

function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
}
