import { ContainerConfigError } from './env.ts';

/**
 * The identity a container process runs with, from the pod's and the container's securityContext
 * (the container's fields win), falling back to the image's user (images.json "user", like a
 * Dockerfile USER), then root. runAsNonRoot with an effective UID 0 is refused before the start,
 * as the kubelet does (kuberuntime verifyRunAsNonRoot).
 */
export interface ContainerSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
}

export interface PodSecurityContext {
  runAsUser?: number;
  runAsGroup?: number;
  runAsNonRoot?: boolean;
  fsGroup?: number;
  supplementalGroups?: number[];
}

export interface ProcessIdentity {
  uid: number;
  gid: number;
  groups: number[];
  noNewPrivs: boolean;
  readOnlyRoot: boolean;
}

/** "1000:1000" or "999" -> uid/gid. */
export function parseImageUser(user: string | undefined): { uid: number; gid: number } | undefined {
  if (!user) return undefined;
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!m) throw new Error(`images.json user "${user}" is not "uid" or "uid:gid" (numeric)`);
  return { uid: Number(m[1]), gid: Number(m[2] ?? 0) };
}

export function processIdentity(
  pod: PodSecurityContext | undefined,
  container: ContainerSecurityContext | undefined,
  imageUser: { uid: number; gid: number } | undefined,
  who: string,
): ProcessIdentity {
  const uid = container?.runAsUser ?? pod?.runAsUser ?? imageUser?.uid ?? 0;
  const gid = container?.runAsGroup ?? pod?.runAsGroup ?? imageUser?.gid ?? 0;
  const nonRoot = container?.runAsNonRoot ?? pod?.runAsNonRoot ?? false;
  if (nonRoot && uid === 0) {
    const explicit = container?.runAsUser !== undefined || pod?.runAsUser !== undefined;
    throw new ContainerConfigError(
      explicit
        ? `container's runAsUser breaks non-root policy (${who})`
        : `container has runAsNonRoot and image will run as root (${who})`,
    );
  }
  const groups = [
    ...new Set([...(pod?.fsGroup !== undefined ? [pod.fsGroup] : []), ...(pod?.supplementalGroups ?? [])]),
  ];
  return {
    uid,
    gid,
    groups,
    noNewPrivs: container?.allowPrivilegeEscalation === false,
    readOnlyRoot: container?.readOnlyRootFilesystem === true,
  };
}

/** The `setpriv` prefix that drops to the identity (none when running as root without extra groups). */
export function setprivArgv(id: ProcessIdentity): string[] {
  if (id.uid === 0 && id.gid === 0 && id.groups.length === 0 && !id.noNewPrivs) return [];
  return [
    'setpriv',
    `--reuid=${id.uid}`,
    `--regid=${id.gid}`,
    ...(id.groups.length ? [`--groups=${id.groups.join(',')}`] : ['--clear-groups']),
    ...(id.noNewPrivs ? ['--no-new-privs'] : []),
    '--',
  ];
}
