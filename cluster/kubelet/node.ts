import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { contentTypes, type KubeClient } from '../../kube/client.ts';
import { isConflict, isNotFound } from '../../kube/errors.ts';
import { coreTypes, resourcePath } from '../../kube/resources.ts';

/**
 * The Node object and its heartbeats: the kubelet registers its Node (capacity, allocatable,
 * addresses, Ready), renews its Lease in kube-node-lease about every 10 s (leaseDurationSeconds
 * 40, the kubelet defaults) and re-posts its status once a minute, so the node lifecycle controller
 * keeps it Ready and removes the not-ready taint.
 */
const LEASE_DURATION_SECONDS = 40;
const LEASE_RENEW_MS = 10_000;
const STATUS_REPORT_MS = 60_000;
const MAX_PODS = 110;

interface NodeAgentOptions {
  api: KubeClient;
  log: Logger;
  nodeName: string;
}

interface NodeObject {
  metadata: { name: string; uid: string };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
}

export class NodeAgent {
  readonly #o: NodeAgentOptions;
  #leaseTimer: NodeJS.Timeout | undefined;
  #statusTimer: NodeJS.Timeout | undefined;
  #nodeUid = '';
  #kubeletVersion = 'v0.0.0-lastcall';
  readonly #started = new Date().toISOString();
  /** The port of the container log server, published as daemonEndpoints.kubeletEndpoint.Port. */
  kubeletPort = 0;

  constructor(o: NodeAgentOptions) {
    this.#o = o;
  }

  #status(): Record<string, unknown> {
    const now = new Date().toISOString();
    const resources = {
      cpu: String(os.cpus().length),
      memory: `${Math.floor(os.totalmem() / 1024)}Ki`,
      pods: String(MAX_PODS),
      'ephemeral-storage': '20Gi',
    };
    const condition = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      reason,
      message,
      lastHeartbeatTime: now,
      lastTransitionTime: this.#started,
    });
    return {
      capacity: resources,
      allocatable: resources,
      conditions: [
        condition(
          'MemoryPressure',
          'False',
          'KubeletHasSufficientMemory',
          'kubelet has sufficient memory available',
        ),
        condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        condition('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        condition(
          'Ready',
          'True',
          'KubeletReady',
          'kubelet is posting ready status (lastcall process kubelet)',
        ),
      ],
      // No Hostname address: the API server prefers it for logs/exec (--kubelet-preferred-address-types
      // starts with Hostname) and "lastcall-node" resolves nowhere; InternalIP 127.0.0.1 is dialable.
      addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
      daemonEndpoints: { kubeletEndpoint: { Port: this.kubeletPort } },
      nodeInfo: {
        machineID: '',
        systemUUID: '',
        bootID: '',
        kernelVersion: os.release(),
        osImage: `${os.type()} (lastcall process kubelet)`,
        containerRuntimeVersion: 'lastcall-process://1',
        kubeletVersion: this.#kubeletVersion,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: process.arch === 'x64' ? 'amd64' : process.arch,
      },
    };
  }

  /** Creates the Node (or adopts an existing one) and posts its status. */
  async register(): Promise<void> {
    const { api, nodeName, log } = this.#o;
    try {
      const v = await api.get<{ gitVersion?: string }>('/version');
      if (v.gitVersion) this.#kubeletVersion = v.gitVersion;
    } catch {}
    let node: NodeObject;
    try {
      node = await api.request<NodeObject>('POST', resourcePath(coreTypes.node), {
        body: {
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name: nodeName,
            labels: {
              'kubernetes.io/hostname': nodeName,
              'kubernetes.io/os': 'linux',
              'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch,
              'lastcall.dev/process-kubelet': 'true',
            },
          },
          spec: {},
          status: this.#status(),
        },
      });
      log.info({ node: nodeName }, 'node registered');
    } catch (err) {
      if (!isConflict(err)) throw err;
      node = await api.get<NodeObject>(resourcePath(coreTypes.node, { name: nodeName }));
      log.info({ node: nodeName }, 'node already registered, adopting it');
    }
    this.#nodeUid = node.metadata.uid;
    await this.postStatus();
  }

  async postStatus(): Promise<void> {
    await this.#o.api.request(
      'PATCH',
      resourcePath(coreTypes.node, { name: this.#o.nodeName, subresource: 'status' }),
      { body: { status: this.#status() }, contentType: contentTypes.strategicMergePatch },
    );
  }

  async renewLease(): Promise<void> {
    const { api, nodeName } = this.#o;
    const path = resourcePath(coreTypes.lease, { namespace: 'kube-node-lease', name: nodeName });
    const spec = {
      holderIdentity: nodeName,
      leaseDurationSeconds: LEASE_DURATION_SECONDS,
      renewTime: new Date().toISOString().replace('Z', '000Z'),
    };
    try {
      await api.request('PATCH', path, { body: { spec }, contentType: contentTypes.mergePatch });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await api.request('POST', resourcePath(coreTypes.lease, { namespace: 'kube-node-lease' }), {
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: {
            name: nodeName,
            namespace: 'kube-node-lease',
            ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: nodeName, uid: this.#nodeUid }],
          },
          spec,
        },
      });
    }
  }

  /** Starts the heartbeats; failures are logged and retried at the next tick. */
  startHeartbeats(): void {
    const beat = () =>
      this.renewLease().catch((err) => this.#o.log.warn({ err: String(err) }, 'lease renewal failed'));
    void beat();
    this.#leaseTimer = setInterval(beat, LEASE_RENEW_MS);
    this.#statusTimer = setInterval(
      () =>
        this.postStatus().catch((err) => this.#o.log.warn({ err: String(err) }, 'node status update failed')),
      STATUS_REPORT_MS,
    );
  }

  stop(): void {
    if (this.#leaseTimer) clearInterval(this.#leaseTimer);
    if (this.#statusTimer) clearInterval(this.#statusTimer);
  }

  /**
   * Waits for spec.podCIDR, which the controller manager's node IPAM assigns
   * (--allocate-node-cidrs --cluster-cidr); pods cannot get IPs before.
   */
  async waitForPodCIDR(signal: AbortSignal): Promise<string> {
    let warned = Date.now();
    while (!signal.aborted) {
      const node = await this.#o.api
        .get<NodeObject>(`/api/v1/nodes/${this.#o.nodeName}`)
        .catch(() => undefined);
      const cidr = node?.spec?.podCIDR;
      if (cidr) return cidr;
      if (Date.now() - warned > 10_000) {
        warned = Date.now();
        this.#o.log.warn(
          'node has no spec.podCIDR yet: kube-controller-manager must run with --allocate-node-cidrs --cluster-cidr=<the pod network>',
        );
      }
      await sleep(500);
    }
    throw new Error('stopped while waiting for podCIDR');
  }
}
