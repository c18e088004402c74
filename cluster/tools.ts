import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is cluster/tools.ts). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const buildScript = join(repoRoot, 'cluster', 'tools', 'build.sh');
const opsBuildScript = join(repoRoot, 'cluster', 'tools', 'build-ops.sh');

/** The binaries the local cluster needs in the bin directory. */
export const requiredTools = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubectl',
  'vegeta',
] as const;

/**
 * Finds (or, the first time, builds) the upstream binaries and returns their
 * directory. The build script owns the cache key and prints the bin directory
 * on its last stdout line; its progress lines (stderr) go to `onProgress`.
 *
 * `LASTCALL_BIN_DIR` points at an existing directory instead (CI caches, or a
 * machine with the binaries elsewhere); it must contain all `requiredTools`.
 *
 * Concurrent callers (two test runs at once) are serialised with flock(1) on a
 * file in the cache, so a cold cache is built once, not twice in parallel.
 */
export async function ensureTools(onProgress: (line: string) => void = () => {}): Promise<string> {
  return ensureBuilt(
    { script: buildScript, cache: 'tools', override: 'LASTCALL_BIN_DIR', tools: requiredTools },
    onProgress,
  );
}

/** The tools the install and monitoring tests use (cluster/tools/build-ops.sh). */
export const opsTools = ['helm', 'promtool'] as const;

/**
 * Finds (or, the first time, builds) helm and promtool, a build step of their own so that the local
 * cluster's tools stay as quick to build as they were; `hack/setup.sh` builds both.
 * `LASTCALL_OPS_BIN_DIR` points at an existing directory with them instead.
 */
export async function ensureOpsTools(onProgress: (line: string) => void = () => {}): Promise<string> {
  return ensureBuilt(
    { script: opsBuildScript, cache: 'ops-tools', override: 'LASTCALL_OPS_BIN_DIR', tools: opsTools },
    onProgress,
  );
}

/**
 * The directory named by the `override` variable, or the one `script` prints on its last stdout line
 * after building under flock(1) on `<cache root>/<cache>/.build.lock` (the script keys its own cache).
 */
async function ensureBuilt(
  build: { script: string; cache: string; override: string; tools: readonly string[] },
  onProgress: (line: string) => void,
): Promise<string> {
  const override = process.env[build.override];
  if (override !== undefined && override !== '') {
    assertComplete(override, build.override, build.tools);
    return override;
  }
  const cacheRoot = join(
    process.env.LASTCALL_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'lastcall'),
    build.cache,
  );
  await mkdir(cacheRoot, { recursive: true });
  const lines = await runBuild(build.script, join(cacheRoot, '.build.lock'), onProgress);
  const binDir = lines.at(-1)?.trim() ?? '';
  if (binDir === '') throw new Error(`${build.script} printed no bin directory`);
  assertComplete(binDir, `the bin directory printed by ${build.script}`, build.tools);
  return binDir;
}

function assertComplete(binDir: string, source: string, tools: readonly string[]): void {
  if (!existsSync(binDir)) throw new Error(`${source}: ${binDir} does not exist`);
  const missing = tools.filter((tool) => !existsSync(join(binDir, tool)));
  if (missing.length > 0) {
    throw new Error(`${source} (${binDir}) lacks ${missing.join(', ')}; it must contain ${tools.join(', ')}`);
  }
}

function runBuild(script: string, lockFile: string, onProgress: (line: string) => void): Promise<string[]> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('flock', [lockFile, 'bash', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    // build.sh prints a line per finished step, minutes apart on a cold
    // cache; say every half minute that it is still going. A cached run
    // returns long before the first beat.
    const begin = Date.now();
    const heartbeat = setInterval(() => {
      const seconds = Math.round((Date.now() - begin) / 1000);
      onProgress(
        `still building the upstream binaries (${Math.floor(seconds / 60)} min ${seconds % 60} s so far)`,
      );
    }, 30_000);
    heartbeat.unref();
    const stdout: string[] = [];
    let stderrTail = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => stdout.push(chunk));
    let pending = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-4000);
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') onProgress(line);
    });
    child.once('error', (error) => {
      clearInterval(heartbeat);
      reject(new Error(`could not run ${script}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearInterval(heartbeat);
      if (code === 0) {
        resolvePromise(
          stdout
            .join('')
            .split('\n')
            .filter((line) => line.trim() !== ''),
        );
        return;
      }
      reject(
        new Error(
          `${script} failed (${signal ?? `exit code ${code}`}):\n${stderrTail.trim() || '(no output)'}`,
        ),
      );
    });
  });
}
