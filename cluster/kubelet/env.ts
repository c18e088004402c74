/**
 * A container's environment, built the way the kubelet builds it (pkg/kubelet/kubelet_pods.go
 * makeEnvironmentVariables): envFrom sources first, then `env` entries in order, each value
 * expanded with $(VAR) against what is defined so far; the image's env sits underneath.
 */

interface EnvVarSource {
  fieldRef?: { fieldPath: string; apiVersion?: string };
  resourceFieldRef?: { containerName?: string; resource: string; divisor?: string };
  configMapKeyRef?: { name: string; key: string; optional?: boolean };
  secretKeyRef?: { name: string; key: string; optional?: boolean };
}

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: EnvVarSource;
}

export interface EnvFromSource {
  prefix?: string;
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
}

interface EnvContainer {
  name: string;
  env?: EnvVar[];
  envFrom?: EnvFromSource[];
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
}

/** What the env needs to know about the pod (values recorded in the API, not the loopback twin). */
export interface PodFacts {
  name: string;
  namespace: string;
  uid: string;
  nodeName: string;
  serviceAccountName: string;
  podIP: string;
  hostIP: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Reads ConfigMap/Secret data (secrets already base64-decoded); undefined when the object is absent. */
export interface EnvSources {
  configMap(name: string): Promise<Record<string, string> | undefined>;
  secret(name: string): Promise<Record<string, string> | undefined>;
}

/**
 * Kubernetes' $(VAR) expansion (third_party/forked/golang/expansion): $(NAME) becomes the value when
 * NAME is defined and stays as written otherwise; $$ is an escaped $.
 */
export function expand(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        out += input.slice(i);
        break;
      }
      const name = input.slice(i + 2, close);
      const value = name.length > 0 ? lookup(name) : undefined;
      out += value ?? `$(${name})`;
      i = close;
    } else {
      out += ch;
    }
  }
  return out;
}

const bracketed = /^metadata\.(labels|annotations)\['(.+)'\]$/;

function fieldRefValue(pod: PodFacts, fieldPath: string): string {
  switch (fieldPath) {
    case 'metadata.name':
      return pod.name;
    case 'metadata.namespace':
      return pod.namespace;
    case 'metadata.uid':
      return pod.uid;
    case 'spec.nodeName':
      return pod.nodeName;
    case 'spec.serviceAccountName':
      return pod.serviceAccountName;
    case 'status.podIP':
    case 'status.podIPs':
      return pod.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return pod.hostIP;
  }
  const m = bracketed.exec(fieldPath);
  if (m) return (m[1] === 'labels' ? pod.labels : pod.annotations)[m[2] as string] ?? '';
  throw new Error(
    `env fieldRef.fieldPath "${fieldPath}" is not supported (metadata.name, metadata.namespace, metadata.uid, ` +
      `metadata.labels['k'], metadata.annotations['k'], spec.nodeName, spec.serviceAccountName, status.podIP, status.hostIP)`,
  );
}

/** A missing non-optional source is the kubelet's CreateContainerConfigError. */
export class ContainerConfigError extends Error {
  override name = 'ContainerConfigError';
}

// Environment variable names the kubelet accepts from envFrom keys (C identifier-ish, relaxed in 1.30+).
const validEnvName = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export async function buildEnv(
  pod: PodFacts,
  container: EnvContainer,
  sources: EnvSources,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref) continue;
    const kind = from.configMapRef ? 'ConfigMap' : 'Secret';
    const data = from.configMapRef ? await sources.configMap(ref.name) : await sources.secret(ref.name);
    if (!data) {
      if (ref.optional) continue;
      throw new ContainerConfigError(`${kind.toLowerCase()} "${ref.name}" not found`);
    }
    for (const [k, v] of Object.entries(data)) {
      const name = `${from.prefix ?? ''}${k}`;
      if (validEnvName.test(name)) env[name] = v;
    }
  }
  for (const e of container.env ?? []) {
    if (e.valueFrom === undefined) {
      env[e.name] = expand(e.value ?? '', (n) => env[n]);
      continue;
    }
    const src = e.valueFrom;
    if (src.fieldRef) env[e.name] = fieldRefValue(pod, src.fieldRef.fieldPath);
    else if (src.resourceFieldRef) {
      const r = src.resourceFieldRef.resource;
      const [kind, res] = r.split('.') as [string, string];
      const value = (kind === 'limits' ? container.resources?.limits : container.resources?.requests)?.[res];
      env[e.name] = value ?? '0';
    } else if (src.configMapKeyRef || src.secretKeyRef) {
      const ref = (src.configMapKeyRef ?? src.secretKeyRef) as {
        name: string;
        key: string;
        optional?: boolean;
      };
      const kind = src.configMapKeyRef ? 'configmap' : 'secret';
      const data = src.configMapKeyRef ? await sources.configMap(ref.name) : await sources.secret(ref.name);
      const value = data?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(
          data
            ? `couldn't find key ${ref.key} in ${kind} ${pod.namespace}/${ref.name}`
            : `${kind} "${ref.name}" not found`,
        );
      }
      env[e.name] = value;
    }
  }
  return env;
}

/** The container's command and args expanded with its final environment (kubelet ExpandContainerCommandAndArgs). */
export function expandArgv(argv: string[], env: Record<string, string>): string[] {
  return argv.map((a) => expand(a, (n) => env[n]));
}
