import type { ClusterNetwork } from '../network-plan.ts';
import type { Pki } from '../pki.ts';
import type { DaemonSpec } from './daemon.ts';
import type { TlsFiles } from './http.ts';

/** Everything a component module needs to say how its component runs. */
export interface ClusterLayout {
  stateDir: string;
  binDir: string;
  repoRoot: string;
  pki: Pki;
  ports: Ports;
  /** This cluster's pod network and service range (network-plan.ts), recorded in cluster.json. */
  network: ClusterNetwork;
  /** Kubeconfig file per client identity (pki.ts). */
  kubeconfigs: Record<keyof Pki['clients'], string>;
}

/** The loopback ports of one cluster, chosen free at `up` and kept in cluster.json. */
export interface Ports {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  controllerManager: number;
  scheduler: number;
  kubeletHealth: number;
  proxyHealth: number;
}

/** A component: how to start it and how to tell it is healthy. */
export interface Component {
  spec: DaemonSpec;
  health: { url: string; tls?: TlsFiles };
  /** How long it may take to become healthy on a busy two-core machine. */
  timeoutMs: number;
}
