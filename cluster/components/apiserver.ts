import { join } from 'node:path';
import type { ClusterLayout, Component } from './component.ts';
import { etcdServer } from './etcd.ts';

export function apiserverUrl(layout: ClusterLayout): string {
  return `https://127.0.0.1:${layout.ports.apiserver}`;
}

/**
 * kube-apiserver. The flags that matter:
 *  - --authorization-mode=Node,RBAC and NodeRestriction (on top of the default
 *    admission plugins): the kubelet is limited to its own Node and the pods
 *    bound to it, as on a real cluster; everybody else goes through RBAC.
 *  - --advertise-address=127.0.0.1 with --endpoint-reconciler-type=none: there
 *    is no default route to take an address from, and the `kubernetes`
 *    Service's Endpoints would otherwise be reconciled to a loopback address,
 *    which validation rejects. Pods reach the API server through
 *    KUBERNETES_SERVICE_HOST=127.0.0.1 instead (the kubelet sets it).
 *  - --service-cluster-ip-range: this cluster's own range (network-plan.ts), so
 *    its ClusterIPs' loopback twins differ from every other local cluster's.
 *  - service-account issuer, verification key and signing key: TokenRequest
 *    (pods' in-cluster tokens) and the controller-manager's per-controller
 *    credentials need them.
 */
export function apiserver(layout: ClusterLayout): Component {
  const { pki } = layout;
  const url = apiserverUrl(layout);
  return {
    spec: {
      name: 'kube-apiserver',
      command: join(layout.binDir, 'kube-apiserver'),
      args: [
        `--etcd-servers=${etcdServer(layout)}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${layout.ports.apiserver}`,
        '--advertise-address=127.0.0.1',
        '--endpoint-reconciler-type=none',
        `--cert-dir=${join(layout.stateDir, 'apiserver')}`,
        `--tls-cert-file=${pki.apiserverCert}`,
        `--tls-private-key-file=${pki.apiserverKey}`,
        `--client-ca-file=${pki.caCert}`,
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction',
        `--service-cluster-ip-range=${layout.network.serviceNetwork}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki.serviceAccountPub}`,
        `--service-account-signing-key-file=${pki.serviceAccountKey}`,
        // Request-header authentication (pki.ts: frontProxyCaCert).
        `--requestheader-client-ca-file=${pki.frontProxyCaCert}`,
        '--requestheader-allowed-names=front-proxy-client',
        '--requestheader-username-headers=X-Remote-User',
        '--requestheader-group-headers=X-Remote-Group',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        `--proxy-client-cert-file=${pki.frontProxyClient.cert}`,
        `--proxy-client-key-file=${pki.frontProxyClient.key}`,
        // The API server calls the kubelet (kubectl logs) with this identity.
        `--kubelet-client-certificate=${pki.clients.admin.cert}`,
        `--kubelet-client-key=${pki.clients.admin.key}`,
        // Dial the kubelet only at its InternalIP (127.0.0.1), never by resolving
        // the node's name: the default list starts with Hostname, and a DNS
        // lookup of "lastcall-node" would leave the machine (the network rule).
        '--kubelet-preferred-address-types=InternalIP',
        '--profiling=false',
      ],
      endpoint: url,
    },
    health: {
      url: `${url}/readyz`,
      tls: { ca: pki.caCert, cert: pki.clients.admin.cert, key: pki.clients.admin.key },
    },
    timeoutMs: 120_000,
  };
}
