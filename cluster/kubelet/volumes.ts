import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import type { EnvSources } from './env.ts';
import type { BindMount } from './runner.ts';
import type { Container, Volume } from './types.ts';

/**
 * Pod volumes the process kubelet provides, under <state>/pods/<uid>/volumes/<name>:
 *   emptyDir   an empty directory, mode 0777 (as the kubelet creates it);
 *   configMap  / secret: one file per key (or per `items` entry), mode defaultMode (0644),
 *              written once at pod start (no refresh).
 * The service-account projected volume is handled by pod-files.ts. Other volume types are not
 * mounted; `unsupported` names them so the kubelet can say so in an event.
 */
class UnsupportedVolumeError extends Error {
  override name = 'UnsupportedVolumeError';
}

function project(
  dir: string,
  data: Record<string, string>,
  items: { key: string; path: string; mode?: number }[] | undefined,
  mode: number,
): void {
  mkdirSync(dir, { recursive: true });
  const entries = items?.length
    ? items.map((i) => ({ path: i.path, value: data[i.key], mode: i.mode ?? mode }))
    : Object.entries(data).map(([k, v]) => ({ path: k, value: v, mode }));
  for (const e of entries) {
    if (e.value === undefined) continue;
    const file = join(dir, normalize(e.path));
    if (!file.startsWith(dir))
      throw new UnsupportedVolumeError(`volume item path "${e.path}" leaves the volume`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, e.value);
    chmodSync(file, e.mode);
  }
}

export async function prepareVolumes(
  volumes: Volume[] | undefined,
  root: string,
  sources: EnvSources,
): Promise<{ prepared: Map<string, string>; unsupported: string[] }> {
  const out = new Map<string, string>();
  const unsupported: string[] = [];
  for (const v of volumes ?? []) {
    const dir = join(root, 'volumes', v.name);
    if (v.emptyDir) {
      mkdirSync(dir, { recursive: true });
      chmodSync(dir, 0o777);
      out.set(v.name, dir);
    } else if (v.configMap || v.secret) {
      const ref = v.configMap ?? v.secret;
      const name = v.configMap?.name ?? v.secret?.secretName ?? '';
      const data = v.configMap ? await sources.configMap(name) : await sources.secret(name);
      if (!data && !ref?.optional) {
        throw new UnsupportedVolumeError(
          `${v.configMap ? 'configmap' : 'secret'} "${name}" not found (volume "${v.name}")`,
        );
      }
      project(dir, data ?? {}, ref?.items, ref?.defaultMode ?? 0o644);
      out.set(v.name, dir);
    } else if (!v.projected) {
      unsupported.push(v.name);
    }
  }
  return { prepared: out, unsupported };
}

/** Bind mounts for a container's volumeMounts of prepared volumes (the SA path is handled elsewhere). */
export function volumeMounts(
  container: Container,
  prepared: Map<string, string>,
  skipPath: string,
): BindMount[] {
  const mounts: BindMount[] = [];
  for (const m of container.volumeMounts ?? []) {
    if (m.mountPath === skipPath) continue;
    const dir = prepared.get(m.name);
    if (!dir) continue;
    const source = m.subPath ? join(dir, normalize(m.subPath)) : dir;
    if (m.subPath) mkdirSync(source, { recursive: true });
    mounts.push({ source, target: m.mountPath, readOnly: m.readOnly === true, directory: true });
  }
  return mounts;
}
