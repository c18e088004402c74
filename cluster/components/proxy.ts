import { join } from 'node:path';
import type { ClusterLayout, Component } from './component.ts';

export const proxyMain = (repoRoot: string) => join(repoRoot, 'cluster', 'proxy', 'main.ts');

/** The service proxy (cluster/proxy/): ClusterIP and NodePort Services on their loopback twins. */
export function proxy(layout: ClusterLayout): Component {
  const url = `http://127.0.0.1:${layout.ports.proxyHealth}`;
  return {
    spec: {
      name: 'proxy',
      command: process.execPath,
      args: [
        proxyMain(layout.repoRoot),
        '--kubeconfig',
        layout.kubeconfigs['kube-proxy'],
        '--health-port',
        String(layout.ports.proxyHealth),
        '--endpoint-delay',
        String(layout.endpointDelaySeconds),
      ],
      cwd: layout.repoRoot,
      endpoint: url,
    },
    health: { url: `${url}/healthz` },
    timeoutMs: 30_000,
  };
}
