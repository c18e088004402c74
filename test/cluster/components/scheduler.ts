import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClusterLayout, Component } from './component.ts';

/**
 * kube-scheduler: places pods on lastcall-node once it is Ready and no longer
 * tainted node.kubernetes.io/not-ready. Its client connection and leader
 * election come from a KubeSchedulerConfiguration file: the --kubeconfig and
 * --leader-elect flags are deprecated in favour of it.
 */
export async function scheduler(layout: ClusterLayout): Promise<Component> {
  const { pki } = layout;
  const kubeconfig = layout.kubeconfigs['kube-scheduler'];
  const serving = pki.serving['kube-scheduler'];
  const url = `https://127.0.0.1:${layout.ports.scheduler}`;
  const config = join(layout.stateDir, 'kube-scheduler.yaml');
  await writeFile(
    config,
    [
      'apiVersion: kubescheduler.config.k8s.io/v1',
      'kind: KubeSchedulerConfiguration',
      'clientConnection:',
      `  kubeconfig: ${JSON.stringify(kubeconfig)}`,
      'leaderElection:',
      '  leaderElect: false',
      '',
    ].join('\n'),
  );
  return {
    spec: {
      name: 'kube-scheduler',
      command: join(layout.binDir, 'kube-scheduler'),
      args: [
        `--config=${config}`,
        `--authentication-kubeconfig=${kubeconfig}`,
        `--authorization-kubeconfig=${kubeconfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${layout.ports.scheduler}`,
        `--tls-cert-file=${serving.cert}`,
        `--tls-private-key-file=${serving.key}`,
        `--client-ca-file=${pki.caCert}`,
      ],
      endpoint: url,
    },
    health: { url: `${url}/healthz`, tls: { ca: pki.caCert } },
    timeoutMs: 60_000,
  };
}
