/**
 * The CLI's contract for bad options: exit code 2 and an error naming the
 * option, the value and what is allowed, before anything touches a cluster.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { repoRoot } from '../../cluster/tools.ts';

function cli(...args: string[]) {
  // process.execPath: the Node 24 running vitest (the type-stripping one)
  return spawnSync(process.execPath, [join(repoRoot, 'experiment', 'cli.ts'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: '/nonexistent/kubeconfig' },
    // Starting Node on a loaded machine takes seconds: a bound against a hang, not a speed test.
    timeout: 60_000,
  });
}

// Each test starts a Node process: longer than the unit project's timeout allows on a loaded machine.
const processTimeout = 90_000;

test(
  'a bad option exits 2 with the option, the value and what is allowed',
  () => {
    const run = cli('--rate', 'fast');
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(
      'experiment: --rate: "fast" is not allowed; use a whole number of requests per second from 1 to 10000',
    );
    expect(run.stdout).toBe('');
  },
  processTimeout,
);

test(
  '--help prints the usage and exits 0',
  () => {
    const run = cli('--help');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('Usage: npm run experiment -- [options]');
    expect(run.stdout).toContain('--mode M');
  },
  processTimeout,
);
