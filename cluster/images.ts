import { readFileSync } from 'node:fs';

/**
 * The image map of the local cluster (cluster/images.json): which local command stands in for
 * which container image. The tag is ignored for the choice but handed to the process as
 * LASTCALL_IMAGE, so a rollout from :v1 to :v2 is a real rollout of the same code.
 */
interface ImageEntry {
  entrypoint: string[];
  args: string[];
  env: Record<string, string>;
  /** The image's user ("uid" or "uid:gid"), like a Dockerfile USER; root when absent. */
  user?: string;
  /** The image's working directory (a Dockerfile WORKDIR), used when the pod sets none. */
  workingDir?: string;
  /**
   * The image's volumes (a Dockerfile VOLUME, e.g. /data for redis): a directory of the pod's own
   * is mounted there unless the pod mounts a volume at that path, as a container runtime does.
   */
  volumes?: string[];
}

export interface ImageMap {
  images: Record<string, ImageEntry>;
}

interface Placeholders {
  NODE: string;
  REPO: string;
  POD_IP: string;
}

function stringArray(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new Error(`images.json: ${field} must be an array of strings, got ${JSON.stringify(value)}`);
  }
  return value as string[];
}

/** Validates the parsed JSON; errors name the field and the value. */
export function parseImageMap(raw: unknown): ImageMap {
  const images = (raw as { images?: unknown } | null)?.images;
  if (typeof images !== 'object' || images === null || Array.isArray(images)) {
    throw new Error(
      `images.json: "images" must be an object of repository -> entry, got ${JSON.stringify(images)}`,
    );
  }
  const out: Record<string, ImageEntry> = {};
  for (const [repo, entry] of Object.entries(images as Record<string, unknown>)) {
    const e = entry as Record<string, unknown>;
    const env = e.env ?? {};
    if (typeof env !== 'object' || env === null || Object.values(env).some((v) => typeof v !== 'string')) {
      throw new Error(
        `images.json: images["${repo}"].env must map names to strings, got ${JSON.stringify(env)}`,
      );
    }
    if (e.user !== undefined && (typeof e.user !== 'string' || !/^\d+(:\d+)?$/.test(e.user))) {
      throw new Error(
        `images.json: images["${repo}"].user must be "uid" or "uid:gid", got ${JSON.stringify(e.user)}`,
      );
    }
    if (e.workingDir !== undefined && (typeof e.workingDir !== 'string' || !e.workingDir.startsWith('/'))) {
      throw new Error(
        `images.json: images["${repo}"].workingDir must be an absolute path, got ${JSON.stringify(e.workingDir)}`,
      );
    }
    const volumes = stringArray(e.volumes ?? [], `images["${repo}"].volumes`);
    const relative = volumes.find((v) => !v.startsWith('/') || v.split('/').includes('..'));
    if (relative !== undefined) {
      throw new Error(
        `images.json: images["${repo}"].volumes must hold absolute paths without "..", got ${JSON.stringify(relative)}`,
      );
    }
    out[repo] = {
      entrypoint: stringArray(e.entrypoint ?? [], `images["${repo}"].entrypoint`),
      args: stringArray(e.args ?? [], `images["${repo}"].args`),
      env: env as Record<string, string>,
      ...(typeof e.user === 'string' ? { user: e.user } : {}),
      ...(typeof e.workingDir === 'string' ? { workingDir: e.workingDir } : {}),
      ...(volumes.length > 0 ? { volumes } : {}),
    };
  }
  return { images: out };
}

export function loadImageMap(file: string): ImageMap {
  return parseImageMap(JSON.parse(readFileSync(file, 'utf8')));
}

/**
 * The repository part of an image reference: "docker.io/library/redis:7@sha256:..." -> "redis",
 * "lastcall/workload:v2" -> "lastcall/workload", "localhost:5000/x/y:1" -> "x/y".
 */
export function imageRepository(image: string): string {
  let ref = image.split('@')[0] as string;
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) ref = ref.slice(0, colon);
  const parts = ref.split('/');
  // A first component with a dot, a colon or "localhost" is a registry host (Docker's rule).
  const first = parts[0] as string;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost'))
    parts.shift();
  if (parts.length > 1 && parts[0] === 'library') parts.shift();
  return parts.join('/');
}

/** The image is not in the map: what a real node reports as a failed pull (ErrImagePull). */
export class ImageNotFoundError extends Error {
  override name = 'ImageNotFoundError';
}

function expandPlaceholders(value: string, p: Placeholders): string {
  return value.replace(/\$\{(NODE|REPO|POD_IP)\}/g, (_, name: keyof Placeholders) => p[name]);
}

interface ResolvedCommand {
  argv: string[];
  imageEnv: Record<string, string>;
  imageUser: string | undefined;
  imageWorkingDir: string | undefined;
  imageVolumes: string[];
}

/**
 * argv for a container: the pod's command replaces the image entrypoint (and drops the image args),
 * the pod's args replace the image args (Docker/Kubernetes semantics).
 */
export function resolveCommand(
  map: ImageMap,
  image: string,
  podCommand: string[] | undefined,
  podArgs: string[] | undefined,
  p: Placeholders,
): ResolvedCommand {
  const repo = imageRepository(image);
  const entry = map.images[repo];
  if (!entry) {
    throw new ImageNotFoundError(
      `image "${image}" (repository "${repo}") is not in images.json (known: ${Object.keys(map.images).join(', ')})`,
    );
  }
  const entrypoint = podCommand?.length ? podCommand : entry.entrypoint.map((v) => expandPlaceholders(v, p));
  const args = podCommand?.length
    ? (podArgs ?? [])
    : podArgs?.length
      ? podArgs
      : entry.args.map((v) => expandPlaceholders(v, p));
  const argv = [...entrypoint, ...args];
  if (argv.length === 0) {
    throw new Error(
      `image "${image}" has no entrypoint: the container must set command (e.g. ["sh", "-c", "..."])`,
    );
  }
  const imageEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(entry.env)) imageEnv[k] = expandPlaceholders(v, p);
  return {
    argv,
    imageEnv,
    imageUser: entry.user,
    imageWorkingDir: entry.workingDir,
    imageVolumes: entry.volumes ?? [],
  };
}
