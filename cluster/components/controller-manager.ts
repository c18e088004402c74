import { join } from 'node:path';
import { type ClusterLayout, type Component, delegatedServingArgs } from './component.ts';

/**
 * kube-controller-manager with every default controller (--controllers=*):
 * deployment, replicaset, endpointslice, garbage collector, namespace, node
 * lifecycle (removes node.kubernetes.io/not-ready once the node is Ready),
 * serviceaccount and token controllers, root-ca-cert-publisher.
 *  - --allocate-node-cidrs with --cluster-cidr (this cluster's pod network,
 *    network-plan.ts: 10.244.0.0/16 for the first cluster) and /24 per node:
 *    the node IPAM controller gives the Node a spec.podCIDR, from which the
 *    kubelet takes pod IPs (their loopback twins are 127.244.x.y there).
 *  - --use-service-account-credentials: each controller acts as its own
 *    ServiceAccount in kube-system, so RBAC is exercised as on a real cluster.
 *  - --cluster-signing-*: the CSR signer (kubelet client certificates).
 *  - --leader-elect=false: one instance, no Lease traffic.
 *  - --kube-api-qps/--kube-api-burst above the defaults (20/30): at start the
 *    controller-manager fetches a ServiceAccount token for each of its ~40
 *    controllers (--use-service-account-credentials) one after another, and
 *    the client-side rate limit made that take ~5 s before the serviceaccount
 *    controller ran (measured: `default` ServiceAccount 5.5 s -> 0.5 s after
 *    healthy). The small workloads of the tests never come near 20 requests/s,
 *    so steady-state behaviour (endpoint propagation) is the same as with the
 *    defaults.
 */
export function controllerManager(layout: ClusterLayout): Component {
  const { pki } = layout;
  const kubeconfig = layout.kubeconfigs['kube-controller-manager'];
  const url = `https://127.0.0.1:${layout.ports.controllerManager}`;
  return {
    spec: {
      name: 'kube-controller-manager',
      command: join(layout.binDir, 'kube-controller-manager'),
      args: [
        `--kubeconfig=${kubeconfig}`,
        ...delegatedServingArgs(layout, 'kube-controller-manager', layout.ports.controllerManager),
        '--controllers=*',
        '--cluster-name=lastcall',
        '--allocate-node-cidrs=true',
        `--cluster-cidr=${layout.network.podNetwork}`,
        '--node-cidr-mask-size=24',
        `--service-cluster-ip-range=${layout.network.serviceNetwork}`,
        '--use-service-account-credentials=true',
        `--root-ca-file=${pki.caCert}`,
        `--service-account-private-key-file=${pki.serviceAccountKey}`,
        `--cluster-signing-cert-file=${pki.caCert}`,
        `--cluster-signing-key-file=${pki.caKey}`,
        '--leader-elect=false',
        '--kube-api-qps=100',
        '--kube-api-burst=200',
        '--profiling=false',
      ],
      endpoint: url,
    },
    // /healthz is in the default --authorization-always-allow-paths.
    health: { url: `${url}/healthz`, tls: { ca: pki.caCert } },
    timeoutMs: 60_000,
  };
}
