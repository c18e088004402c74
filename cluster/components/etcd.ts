import { join } from 'node:path';
import type { ClusterLayout, Component } from './component.ts';

/**
 * etcd, single member, plain HTTP on loopback (only the API server talks to
 * it, on this machine). --unsafe-no-fsync: the data is thrown away at `down`,
 * and fsync on a busy disk is what makes a test cluster's etcd slow.
 */
export function etcd(layout: ClusterLayout): Component {
  const client = `http://127.0.0.1:${layout.ports.etcdClient}`;
  const peer = `http://127.0.0.1:${layout.ports.etcdPeer}`;
  return {
    spec: {
      name: 'etcd',
      command: join(layout.binDir, 'etcd'),
      args: [
        '--name=lastcall',
        `--data-dir=${join(layout.stateDir, 'etcd')}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peer}`,
        `--initial-advertise-peer-urls=${peer}`,
        `--initial-cluster=lastcall=${peer}`,
        '--initial-cluster-state=new',
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      endpoint: client,
    },
    health: { url: `${client}/health` },
    timeoutMs: 30_000,
  };
}

export function etcdServer(layout: ClusterLayout): string {
  return `http://127.0.0.1:${layout.ports.etcdClient}`;
}
