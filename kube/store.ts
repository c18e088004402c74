import { type KubeObject, objectKey } from './resources.ts';

/** The reflector's local copy of one resource type, keyed like the work queue ("ns/name"). */
export class Store<T extends KubeObject = KubeObject> {
  readonly #objects = new Map<string, T>();
  readonly #transform: (obj: T) => T;

  /** `transform` trims objects before they are stored (e.g. dropManagedFields) to save memory. */
  constructor(transform: (obj: T) => T = (obj) => obj) {
    this.#transform = transform;
  }

  get(key: string): T | undefined {
    return this.#objects.get(key);
  }

  list(): T[] {
    return [...this.#objects.values()];
  }

  keys(): string[] {
    return [...this.#objects.keys()];
  }

  get size(): number {
    return this.#objects.size;
  }

  /** Stores `obj`, returning what it replaced. */
  set(obj: T): T | undefined {
    const key = objectKey(obj);
    const old = this.#objects.get(key);
    this.#objects.set(key, this.#transform(obj));
    return old;
  }

  delete(key: string): T | undefined {
    const old = this.#objects.get(key);
    this.#objects.delete(key);
    return old;
  }

  /**
   * Puts the response of our own write into the store ("write-through"), so the next reconcile
   * does not act on the object as it was before that write; the watch event for the same write
   * arrives later with the same resourceVersion and is then ignored as a repeat.
   *
   * Only if the store still holds the version the write was based on (`basedOn`; undefined for a
   * create): if the watch delivered anything since, it is at least as new as our write's base
   * and may be newer than our response (the Deployment controller's first status can arrive
   * before the response to the create), and overwriting it would leave the store behind with no
   * event left to correct it.
   */
  remember(obj: T, basedOn: string | undefined): boolean {
    if (!obj?.metadata?.name) return false;
    const key = objectKey(obj);
    if (this.#objects.get(key)?.metadata.resourceVersion !== basedOn) return false;
    this.#objects.set(key, this.#transform(obj));
    return true;
  }
}

/**
 * managedFields is often the largest part of an object and the operator never reads it (it compares
 * desired fields and an applied-hash annotation instead), so the cache drops it, as
 * controller-runtime users do with a cache transform.
 */
export function dropManagedFields<T extends KubeObject>(obj: T): T {
  if (!obj.metadata?.managedFields) return obj;
  const { managedFields: _dropped, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}
