// The launcher's own lifecycle, on a cluster of its own in a temporary state
// dir: up, idempotent up, status, crash report and recovery, down leaving
// nothing behind. Runs the real binaries.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DaemonRecord } from '../../cluster/components/daemon.ts';
import { kubeletMain } from '../../cluster/components/kubelet.ts';
import { proxyMain } from '../../cluster/components/proxy.ts';
import { type ClusterHandle, type ComponentSet, down, status, up } from '../../cluster/launcher.ts';
import { type ClusterNetwork, registeredNetworks } from '../../cluster/network-plan.ts';
import { ensureTools, repoRoot, requiredTools } from '../../cluster/tools.ts';
import { waitFor } from '../../kube/poll.ts';

const run = promisify(execFile);
const cli = join(repoRoot, 'cluster', 'cli.ts');
// With the process kubelet and the proxy in the tree the whole cluster is
// exercised, including pod processes that `down` must stop too.
const components: ComponentSet =
  existsSync(kubeletMain(repoRoot)) && existsSync(proxyMain(repoRoot)) ? 'all' : 'control-plane';
const expectedNames = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  ...(components === 'all' ? ['kubelet', 'proxy'] : []),
];

let parent: string;
let stateDir: string;
/** The ranges the first up chose for this state dir (network-plan.ts). */
let network: ClusterNetwork;

async function readPids(): Promise<Record<string, DaemonRecord>> {
  return JSON.parse(await readFile(join(stateDir, 'pids.json'), 'utf8')) as Record<string, DaemonRecord>;
}

/** PIDs of live (not zombie) processes whose command line mentions `text`. */
async function processesMentioning(text: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      if (cmdline.includes(text)) found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

function runCli(args: string[]) {
  return run(process.execPath, [cli, ...args], { cwd: repoRoot }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );
}

beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'lastcall-lifecycle-'));
  stateDir = join(parent, 'cluster');
});

afterAll(async () => {
  // Whatever a failed test left running.
  await down({ stateDir });
  await rm(parent, { recursive: true, force: true });
});

describe(`cluster lifecycle (${components})`, () => {
  let first: ClusterHandle;
  let firstPids: Record<string, DaemonRecord>;

  it('up starts every component, each healthy, with pids recorded', async () => {
    const lines: string[] = [];
    const begin = Date.now();
    first = await up({ stateDir, components, onProgress: (line) => lines.push(line) });
    const seconds = (Date.now() - begin) / 1000;
    process.stderr.write(`lifecycle: up (${components}) took ${seconds.toFixed(1)} s\n`);

    expect(first.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(existsSync(first.kubeconfig)).toBe(true);
    expect(await readFile(first.kubeconfig, 'utf8')).toContain('current-context: lastcall');
    firstPids = await readPids();
    expect(Object.keys(firstPids).sort()).toEqual([...expectedNames].sort());
    // The cluster's own ranges: recorded, registered machine-wide, and given to the components.
    const recorded = JSON.parse(await readFile(join(stateDir, 'cluster.json'), 'utf8')) as {
      network: ClusterNetwork;
    };
    network = recorded.network;
    expect(network.serviceNetwork).toMatch(/^10\.\d+\.0\.0\/16$/);
    expect(lines.join('\n')).toContain(`network ${network.index}: pod network ${network.podNetwork}`);
    expect(await registeredNetworks()).toContainEqual(
      expect.objectContaining({ index: network.index, stateDir }),
    );
    expect(firstPids['kube-apiserver']?.command).toContain(
      `--service-cluster-ip-range=${network.serviceNetwork}`,
    );
    for (const record of Object.values(firstPids)) {
      expect(existsSync(`/proc/${record.pid}`), `${record.name} pid ${record.pid}`).toBe(true);
      expect(existsSync(record.log), record.log).toBe(true);
    }
    // Progress lines carry the elapsed time.
    expect(lines.some((line) => /^\[cluster \+\d+\.\ds\] kube-apiserver healthy/.test(line))).toBe(true);

    const current = await status({ stateDir });
    expect(current.running).toBe(true);
    expect(current.components.every((component) => component.alive && (component.rssBytes ?? 0) > 0)).toBe(
      true,
    );
  });

  it('a second up reports the running cluster and starts nothing', async () => {
    const lines: string[] = [];
    const again = await up({ stateDir, components, onProgress: (line) => lines.push(line) });
    expect(again).toEqual(first);
    expect(await readPids()).toEqual(firstPids);
    expect(lines.join('\n')).toContain('already running');
  });

  it('the CLI prints status and shell exports, and refuses unknown commands', async () => {
    const shown = await runCli(['status', '--state-dir', stateDir]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('running');
    expect(shown.stdout).toContain(
      `network ${network.index}: pods ${network.podNetwork}, services ${network.serviceNetwork}`,
    );
    for (const name of expectedNames) expect(shown.stdout).toContain(name);

    const env = await runCli(['env', '--state-dir', stateDir]);
    expect(env.code).toBe(0);
    expect(env.stdout).toContain(`export KUBECONFIG=${first.kubeconfig}`);
    expect(env.stdout).toContain(`export PATH=${first.binDir}:"$PATH"`);

    // The kubectl that `env` puts first on PATH talks to the cluster as it is.
    const { stdout } = await run(
      join(first.binDir, 'kubectl'),
      ['get', 'namespace', 'default', '-o', 'name'],
      {
        env: { ...process.env, KUBECONFIG: first.kubeconfig },
      },
    );
    expect(stdout.trim()).toBe('namespace/default');

    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command: frobnicate');
    expect(unknown.stderr).toContain('usage: npm run cluster -- <command>');
  });

  it('a dead component is reported with its log tail, and the next up replaces the cluster', async () => {
    const victim = firstPids['kube-scheduler'];
    if (victim === undefined) throw new Error('no kube-scheduler in pids.json');
    process.kill(victim.pid, 'SIGKILL');
    const broken = await waitFor(
      'status to see the scheduler dead',
      async () => {
        const current = await status({ stateDir });
        return current.running ? undefined : current;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const scheduler = broken.components.find((component) => component.name === 'kube-scheduler');
    expect(scheduler?.alive).toBe(false);
    expect(scheduler?.logTail ?? '').not.toBe('');

    const lines: string[] = [];
    const replaced = await up({ stateDir, components, onProgress: (line) => lines.push(line) });
    const progress = lines.join('\n');
    expect(progress).toContain(`kube-scheduler (pid ${victim.pid}) is not running`);
    expect(progress).toContain('replacing it');
    const pids = await readPids();
    for (const name of expectedNames) expect(pids[name]?.pid).not.toBe(firstPids[name]?.pid);
    // The old processes were stopped, not left behind (a stopped child lingers in /proc as a zombie
    // until it is reaped, which happens asynchronously: wait for that, briefly).
    await waitFor(
      'the replaced processes to be reaped',
      async () =>
        Object.values(firstPids).every((record) => !existsSync(`/proc/${record.pid}`)) ? true : undefined,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect((await status({ stateDir })).running).toBe(true);
    // The replacement keeps the state dir's ranges (its registry entry).
    expect((await status({ stateDir })).network).toEqual(network);
    first = replaced;
    firstPids = pids;
  });

  it('down stops every process and removes the state', async () => {
    const podGroups = join(stateDir, 'kubelet', 'pids');
    if (components === 'all') {
      // A pod whose process would outlive a careless `down`.
      await run(
        join(first.binDir, 'kubectl'),
        ['run', 'sleeper', '--image=busybox:1.36', '--restart=Never', '--', 'sh', '-c', 'sleep 1000'],
        { env: { ...process.env, KUBECONFIG: first.kubeconfig } },
      );
      await waitFor(
        'the pod process',
        async () => (existsSync(podGroups) && (await readdir(podGroups)).length > 0 ? true : undefined),
        { timeoutMs: 60_000, intervalMs: 200 },
      );
    }
    const podPids = existsSync(podGroups) ? (await readdir(podGroups)).map(Number) : [];
    for (const pid of podPids) expect(existsSync(`/proc/${pid}`), `pod process ${pid}`).toBe(true);
    await down({ stateDir });

    // Stopped processes leave /proc once reaped (pod processes by init, after the kubelet is gone),
    // asynchronously: wait for the pod processes as for the components, not read them once.
    await waitFor(
      'the recorded and pod processes to be gone',
      async () =>
        Object.values(firstPids).every((record) => !existsSync(`/proc/${record.pid}`)) &&
        podPids.every((pid) => !existsSync(`/proc/${pid}`))
          ? true
          : undefined,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    for (const pid of podPids) expect(existsSync(`/proc/${pid}`), `pod process ${pid}`).toBe(false);
    // Every component was started with the state dir in its arguments.
    expect(await processesMentioning(stateDir)).toEqual([]);
    expect(existsSync(stateDir)).toBe(false);
    expect(await readdir(parent)).toEqual([]); // no lock file either
    // The ranges are free for the next cluster.
    expect((await registeredNetworks()).filter((entry) => entry.stateDir === stateDir)).toEqual([]);

    const after = await status({ stateDir });
    expect(after.running).toBe(false);
    expect(after.components).toEqual([]);
    await down({ stateDir }); // a second down is a no-op
  });

  it('a component that fails to start is reported with its log tail, and nothing is left running', async () => {
    // The real binaries, except an etcd that fails the way a broken one would.
    const binDir = await ensureTools();
    const broken = join(parent, 'broken-bin');
    await rm(broken, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(broken));
    for (const tool of requiredTools) {
      if (tool !== 'etcd') await symlink(join(binDir, tool), join(broken, tool));
    }
    await writeFile(
      join(broken, 'etcd'),
      '#!/bin/sh\necho "etcd: simulated failure: bad flag $1" >&2\nexit 3\n',
    );
    await chmod(join(broken, 'etcd'), 0o755);
    const saved = process.env.LASTCALL_BIN_DIR;
    process.env.LASTCALL_BIN_DIR = broken;
    const failingDir = join(parent, 'failing');
    try {
      await expect(up({ stateDir: failingDir, components: 'control-plane' })).rejects.toThrow(
        /etcd exited with code 3; last lines of .*etcd\.log:\n {2}\| etcd: simulated failure/,
      );
    } finally {
      if (saved === undefined) delete process.env.LASTCALL_BIN_DIR;
      else process.env.LASTCALL_BIN_DIR = saved;
    }
    expect(await processesMentioning(failingDir)).toEqual([]);
    await down({ stateDir: failingDir });
    expect(existsSync(failingDir)).toBe(false);
  });
});
