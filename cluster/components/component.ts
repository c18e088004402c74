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
  /** The service proxy's delay between an EndpointSlice change and its routing change, seconds. */
  endpointDelaySeconds: number;
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

/**
 * The serving flags kube-controller-manager and kube-scheduler share: HTTPS on their loopback port
 * with the certificate pki.ts made for them, authentication and authorization delegated to the API
 * server through their own kubeconfig, client certificates checked against the cluster CA.
 */
export function delegatedServingArgs(
  layout: ClusterLayout,
  component: keyof Pki['serving'],
  port: number,
): string[] {
  const kubeconfig = layout.kubeconfigs[component];
  const serving = layout.pki.serving[component];
  return [
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    `--tls-cert-file=${serving.cert}`,
    `--tls-private-key-file=${serving.key}`,
    `--client-ca-file=${layout.pki.caCert}`,
  ];
}
