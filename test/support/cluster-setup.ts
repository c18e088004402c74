// vitest globalSetup of the "cluster" project: one cluster for all its test files.
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { kubeletMain } from '../../cluster/components/kubelet.ts';
import { proxyMain } from '../../cluster/components/proxy.ts';
import { type ComponentSet, down, up } from '../../cluster/launcher.ts';
import { repoRoot } from '../../cluster/tools.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of an admin kubeconfig (context `lastcall` for the local cluster). */
    kubeconfig: string;
  }
}

export const testStateDir = join(repoRoot, '.lastcall', 'test-cluster');
/**
 * Test runs using the shared cluster, one file per run named by its PID.
 * Several runs (two terminals, several people's tests in one working tree)
 * may share .lastcall/test-cluster; the last one to finish stops it.
 */
const usersDir = join(repoRoot, '.lastcall', '.test-cluster.users');

/**
 * Environment:
 *  - LASTCALL_E2E_KUBECONFIG: use that cluster (kind, any cluster); nothing is started or stopped.
 *  - LASTCALL_KEEP_CLUSTER=1: leave the local cluster running after the run (the next run reuses it).
 *  - LASTCALL_CLUSTER_COMPONENTS=all|control-plane: default `all` (with the
 *    kubelet and the proxy) when they exist in the tree, else `control-plane`.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const external = process.env.LASTCALL_E2E_KUBECONFIG;
  if (external !== undefined && external !== '') {
    if (!existsSync(external)) {
      throw new Error(`LASTCALL_E2E_KUBECONFIG=${external}: no such file`);
    }
    project.provide('kubeconfig', external);
    return undefined;
  }

  const me = join(usersDir, String(process.pid));
  await mkdir(usersDir, { recursive: true });
  await writeFile(me, `${new Date().toISOString()}\n`);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  let cluster: Awaited<ReturnType<typeof up>>;
  try {
    cluster = await up({ stateDir: testStateDir, components: componentSet(log), onProgress: log });
  } catch (error) {
    await rm(me, { force: true });
    throw error;
  }
  project.provide('kubeconfig', cluster.kubeconfig);

  return async () => {
    await rm(me, { force: true });
    if (process.env.LASTCALL_KEEP_CLUSTER === '1') {
      log(`LASTCALL_KEEP_CLUSTER=1: the test cluster keeps running (KUBECONFIG=${cluster.kubeconfig})`);
      return;
    }
    const others = await liveUsers();
    if (others.length > 0) {
      log(`the test cluster stays up: test runs ${others.join(', ')} still use it`);
      return;
    }
    await down({ stateDir: testStateDir, onProgress: log });
  };
}

function componentSet(log: (line: string) => void): ComponentSet {
  const fromEnv = process.env.LASTCALL_CLUSTER_COMPONENTS;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (fromEnv !== 'all' && fromEnv !== 'control-plane') {
      throw new Error(`LASTCALL_CLUSTER_COMPONENTS=${fromEnv}: allowed are "all" and "control-plane"`);
    }
    return fromEnv;
  }
  if (existsSync(kubeletMain(repoRoot)) && existsSync(proxyMain(repoRoot))) return 'all';
  log('test cluster: the kubelet or the proxy is not in the tree yet; starting the control plane only');
  return 'control-plane';
}

/** PIDs of other test runs registered in usersDir that still run; stale entries are removed. */
async function liveUsers(): Promise<number[]> {
  const live: number[] = [];
  for (const entry of await readdir(usersDir).catch(() => [] as string[])) {
    const pid = Number(entry);
    if (Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${pid}`)) live.push(pid);
    else await rm(join(usersDir, entry), { force: true });
  }
  return live;
}
