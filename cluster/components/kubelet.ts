import { join } from 'node:path';
import { nodeName } from '../pki.ts';
import type { ClusterLayout, Component } from './component.ts';

function kubeletStateDir(stateDir: string): string {
  return join(stateDir, 'kubelet');
}

export const kubeletMain = (repoRoot: string) => join(repoRoot, 'cluster', 'kubelet', 'main.ts');

/**
 * The process kubelet (cluster/kubelet/), run by the same Node 24 as the
 * launcher. Its /healthz answers 200 only once its Node is registered. It runs
 * each pod's containers in process groups of their own and records them under
 * <state>/kubelet/pids/, which `down` also stops.
 */
export function kubelet(layout: ClusterLayout): Component {
  const url = `http://127.0.0.1:${layout.ports.kubeletHealth}`;
  return {
    spec: {
      name: 'kubelet',
      command: process.execPath,
      args: [
        kubeletMain(layout.repoRoot),
        '--kubeconfig',
        layout.kubeconfigs.kubelet,
        '--node-name',
        nodeName,
        '--state-dir',
        kubeletStateDir(layout.stateDir),
        '--ca-file',
        layout.pki.caCert,
        '--api-server-port',
        String(layout.ports.apiserver),
        '--repo',
        layout.repoRoot,
        '--images',
        join(layout.repoRoot, 'cluster', 'images.json'),
        '--health-port',
        String(layout.ports.kubeletHealth),
      ],
      cwd: layout.repoRoot,
      endpoint: url,
    },
    health: { url: `${url}/healthz` },
    timeoutMs: 60_000,
  };
}
