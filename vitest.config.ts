import { defineConfig } from 'vitest/config';

// Three projects, run one file at a time: this machine has two cores and the
// cluster tests share one local control plane.
//  - unit:     pure logic, milliseconds each (*.unit.test.ts anywhere)
//  - workload: the workload as a real child process against a real redis-server
//  - cluster:  the local cluster, the operator and the end-to-end experiment,
//              against the cluster in LASTCALL_E2E_KUBECONFIG or a local one
//              started once by test/support/cluster-setup.ts
export default defineConfig({
  test: {
    fileParallelism: false,
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['**/*.unit.test.ts'],
          exclude: ['node_modules/**'],
          // Unit tests take milliseconds; the few with real processes or timers (daemons, the state
          // lock, the controller) must not fail only because a loaded machine ran them slowly. The
          // default 5 s would be a deadline on the machine, not on the code.
          testTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'workload',
          include: ['test/workload/**/*.test.ts'],
          exclude: ['**/*.unit.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts', 'test/operator/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          exclude: ['**/*.unit.test.ts'],
          globalSetup: ['./test/support/cluster-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
