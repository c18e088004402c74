import type { EnvFromSource, EnvVar } from './env.ts';
import type { ContainerPort, Handler } from './handlers.ts';
import type { ProbeSpecTiming } from './probe-state.ts';
import type { ContainerSecurityContext, PodSecurityContext } from './security.ts';

/** The parts of the core/v1 Pod JSON the process kubelet reads (raw API JSON, not client models). */
export interface Probe extends Handler, ProbeSpecTiming {
  terminationGracePeriodSeconds?: number;
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  ports?: ContainerPort[];
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { postStart?: Handler; preStop?: Handler; stopSignal?: string };
  terminationMessagePath?: string;
  terminationMessagePolicy?: string;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
  securityContext?: ContainerSecurityContext;
  restartPolicy?: string;
}

interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

export interface Volume {
  name: string;
  emptyDir?: Record<string, unknown>;
  configMap?: { name: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  secret?: { secretName: string; items?: KeyToPath[]; defaultMode?: number; optional?: boolean };
  projected?: {
    sources?: {
      serviceAccountToken?: { path: string; expirationSeconds?: number; audience?: string };
      configMap?: { name: string };
      downwardAPI?: unknown;
    }[];
  };
}

export interface PodCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastProbeTime?: string | null;
  lastTransitionTime?: string;
}

export interface Pod {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    deletionGracePeriodSeconds?: number;
  };
  spec: {
    nodeName?: string;
    hostname?: string;
    containers: Container[];
    initContainers?: Container[];
    restartPolicy?: string;
    terminationGracePeriodSeconds?: number;
    serviceAccountName?: string;
    automountServiceAccountToken?: boolean;
    volumes?: Volume[];
    readinessGates?: { conditionType: string }[];
    securityContext?: PodSecurityContext;
    hostAliases?: { ip: string; hostnames?: string[] }[];
  };
  status?: {
    phase?: string;
    podIP?: string;
    conditions?: PodCondition[];
    containerStatuses?: {
      name: string;
      restartCount?: number;
      state?: { running?: unknown; terminated?: unknown };
    }[];
    startTime?: string;
  };
}
