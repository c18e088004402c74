import { createHash } from 'node:crypto';
import { contentTypes, type KubeClient } from '../../kube/client.ts';
import { type KubeObject, type ResourceType, resourcePath } from '../../kube/resources.ts';
import type { Metrics } from './metrics.ts';

/**
 * The annotation that records a hash of the fields last applied. The subset check below sees a
 * changed or hand-edited field, but not a field we stopped setting (the live object still has it);
 * a changed hash catches that case, and server-side apply then removes the field we no longer own.
 */
export const appliedHashAnnotation = 'lastcall.dev/applied-hash';

export interface ApplyResult<T> {
  /** False when the live object already matched and no request was sent. */
  written: boolean;
  object: T;
}

/**
 * Server-side apply with a field manager, skipped when the live object already holds every desired
 * field. Server-side apply of an unchanged object is a no-op for the object (no new
 * resourceVersion), but it still costs a request and an admission pass per object per reconcile;
 * skipping it is what makes a steady-state resync free.
 *
 * `force: true` takes ownership of fields another manager changed (a `kubectl edit` of the grace
 * period), which is exactly the drift correction wanted: the operator owns these fields.
 */
export class Applier {
  readonly #client: KubeClient;
  readonly #fieldManager: string;
  readonly #metrics: Metrics | undefined;

  constructor(client: KubeClient, fieldManager: string, metrics?: Metrics) {
    this.#client = client;
    this.#fieldManager = fieldManager;
    this.#metrics = metrics;
  }

  async apply<T extends KubeObject>(
    type: ResourceType,
    desired: T,
    live: T | undefined,
    signal?: AbortSignal,
  ): Promise<ApplyResult<T>> {
    const hashed = withAppliedHash(desired);
    const unchanged = unchangedLive(live, hashed);
    if (unchanged) {
      this.#metrics?.writesSkipped.inc({ resource: type.plural });
      return { written: false, object: unchanged };
    }
    const object = await this.#client.request<T>(
      'PATCH',
      resourcePath(type, { namespace: desired.metadata.namespace, name: desired.metadata.name }),
      {
        query: { fieldManager: this.#fieldManager, force: true },
        body: hashed,
        contentType: contentTypes.apply,
        signal,
      },
    );
    return { written: true, object };
  }

  /** Server-side apply of the status subresource (custom resources accept no strategic merge patch). */
  async applyStatus<T extends KubeObject>(type: ResourceType, patch: T, signal?: AbortSignal): Promise<T> {
    return this.#client.request<T>(
      'PATCH',
      resourcePath(type, {
        namespace: patch.metadata.namespace,
        name: patch.metadata.name,
        subresource: 'status',
      }),
      {
        query: { fieldManager: this.#fieldManager, force: true },
        body: patch,
        contentType: contentTypes.apply,
        signal,
      },
    );
  }
}

/**
 * `live` when the apply of `hashed` (see withAppliedHash) can be skipped: it holds every desired
 * field and is not being deleted; otherwise undefined.
 */
export function unchangedLive<T extends KubeObject>(live: T | undefined, hashed: T): T | undefined {
  return live && !live.metadata.deletionTimestamp && containsDesired(live, hashed) ? live : undefined;
}

export function withAppliedHash<T extends KubeObject>(desired: T): T {
  const annotations = { ...(desired.metadata.annotations ?? {}) };
  delete annotations[appliedHashAnnotation];
  const unhashed = { ...desired, metadata: { ...desired.metadata, annotations } };
  annotations[appliedHashAnnotation] = hashOf(unhashed);
  return unhashed;
}

/** A stable hash of a JSON value: object keys sorted, so field order does not matter. */
export function hashOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * True when every field of `desired` is present in `live` with the same value. Fields only in
 * `live` (defaults the API server filled in, status, other managers' fields) are ignored. Lists must
 * match element by element: the operator owns whole lists (containers, ports, env).
 * Resource quantities compare by value ("0.5" equals "500m"): the API server canonicalises them.
 * A zero value matches an absent field (Go omitempty).
 */
export function containsDesired(live: unknown, desired: unknown, quantities = false): boolean {
  if (desired === undefined) return true;
  // Go's `omitempty` drops zero values (minReadySeconds: 0, optional: false, ""), so the API server
  // returns no field for them: absent is the same as zero.
  if (live === undefined && isZero(desired)) return true;
  if (desired === null) return live === null || live === undefined;
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return false;
    return desired.every((item, i) => containsDesired(live[i], item));
  }
  if (typeof desired === 'object') {
    if (!live || typeof live !== 'object' || Array.isArray(live)) return false;
    const liveRecord = live as Record<string, unknown>;
    return Object.entries(desired).every(([field, value]) =>
      containsDesired(liveRecord[field], value, quantities || quantityMaps.has(field)),
    );
  }
  if (live === desired) return true;
  return quantities && live !== undefined && live !== null && sameQuantity(String(live), String(desired));
}

function isZero(value: unknown): boolean {
  if (value === 0 || value === false || value === '' || value === null) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.values(value as object).every(isZero);
  return false;
}

/** Maps whose values are resource quantities (container resources, PDB/Deployment do not use them). */
const quantityMaps = new Set(['requests', 'limits']);

/** Compares two resource quantities ("100m", "0.1", "1Gi", "1024Mi") by value. */
export function sameQuantity(a: string, b: string): boolean {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  return x !== undefined && y !== undefined && Math.abs(x - y) <= Math.abs(x) * 1e-12;
}

const suffixes: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

export function parseQuantity(text: string): number | undefined {
  const match = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(text);
  if (!match) return undefined;
  const [, number = '', exponent, suffix = ''] = match;
  if (exponent) return Number(number + exponent);
  const factor = suffixes[suffix];
  return factor === undefined ? undefined : Number(number) * factor;
}
