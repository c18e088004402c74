import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ClusterLayout, type Component, delegatedServingArgs } from './component.ts';

/**
 * kube-scheduler: places pods on lastcall-node once it is Ready and no longer
 * tainted node.kubernetes.io/not-ready. Its client connection and leader
 * election come from a KubeSchedulerConfiguration file: the --kubeconfig and
 * --leader-elect flags are deprecated in favour of it.
 */
export async function scheduler(layout: ClusterLayout): Promise<Component> {
  const { pki } = layout;
  const kubeconfig = layout.kubeconfigs['kube-scheduler'];
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
      args: [`--config=${config}`, ...delegatedServingArgs(layout, 'kube-scheduler', layout.ports.scheduler)],
      endpoint: url,
    },
    health: { url: `${url}/healthz`, tls: { ca: pki.caCert } },
    timeoutMs: 60_000,
  };
}
