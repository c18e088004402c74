import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { type BackoffPolicy, backoffDelay } from './backoff.ts';
import type { KubeClient, WatchEvent } from './client.ts';
import { ApiError, errorText, isGone } from './errors.ts';
import { type KubeObject, type ObjectList, objectKey, type ResourceType, resourcePath } from './resources.ts';
import { Store } from './store.ts';

export type Change<T> =
  | { type: 'added'; object: T }
  | { type: 'updated'; object: T; old: T }
  | { type: 'deleted'; object: T };

interface ReflectorOptions {
  client: KubeClient;
  type: ResourceType;
  log: Logger;
  /** Only this namespace; all namespaces when unset. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** The server ends each watch after about this long (it randomises it) and we watch again. */
  watchTimeoutSeconds?: number;
  pageSize?: number;
  backoff?: BackoffPolicy;
  /** Called once per relist, reconnect and on each watch error (metrics). */
  onRestart?: (reason: 'relist' | 'reconnect' | 'error') => void;
}

/** A watch that lasted this long was healthy: the next failure starts back-off from the base. */
const healthyWatchMs = 10_000;

/**
 * List + watch of one resource type into a Store, in the manner of client-go's Reflector and
 * kube-rs' reflector:
 *  - LIST (paged) gives the state and a resourceVersion; WATCH from that version gives every change
 *    after it, in order. Bookmarks move the version forward without an object, so a reconnect after
 *    a quiet period does not ask for a version etcd has already compacted.
 *  - A watch that ends (server timeout, dropped connection, idle timeout) is reopened from the last
 *    version seen: nothing is missed and nothing is delivered twice.
 *  - 410 Gone (the version was compacted) means events were missed: LIST again and diff against the
 *    store, so deletions that happened while we were away still reach the handlers.
 *  - An event that carries the resourceVersion already stored is a repeat and is dropped.
 *  - Failures back off exponentially with jitter; a healthy watch resets the back-off.
 */
export class Reflector<T extends KubeObject = KubeObject> {
  readonly store: Store<T>;
  readonly type: ResourceType;
  readonly #opts: ReflectorOptions;
  readonly #handlers: Array<(change: Change<T>) => void> = [];
  readonly #abort = new AbortController();
  #resourceVersion = '';
  #synced = false;
  #syncWaiters: Array<() => void> = [];
  #running: Promise<void> | undefined;

  constructor(opts: ReflectorOptions & { transform?: (obj: T) => T }) {
    this.#opts = opts;
    this.type = opts.type;
    this.store = new Store<T>(opts.transform);
  }

  /** Handlers run synchronously in event order; they should only enqueue keys. */
  onChange(handler: (change: Change<T>) => void): void {
    this.#handlers.push(handler);
  }

  get synced(): boolean {
    return this.#synced;
  }

  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  /** Resolves after the first LIST has filled the store. */
  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  start(): void {
    this.#running ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running;
    // Nobody waits for a sync that will never come.
    for (const waiter of this.#syncWaiters.splice(0)) waiter();
  }

  async #run(): Promise<void> {
    const { log } = this.#opts;
    const signal = this.#abort.signal;
    let failures = 0;
    let needList = true;
    while (!signal.aborted) {
      const started = Date.now();
      try {
        if (needList) {
          await this.#list(signal);
          needList = false;
        }
        await this.#watch(signal);
        if (signal.aborted) break;
        // The server closed the watch at its timeout: reopen from the last version, no relist.
        this.#opts.onRestart?.('reconnect');
        failures = 0;
      } catch (err) {
        if (signal.aborted) break;
        if (Date.now() - started > healthyWatchMs) failures = 0;
        failures++;
        if (isGone(err)) {
          // Compacted: the only way to learn what we missed is a fresh LIST.
          log.info(
            { resource: this.type.plural, resourceVersion: this.#resourceVersion },
            'watch expired (410), relisting',
          );
          this.#opts.onRestart?.('relist');
          needList = true;
          failures = 0;
          continue;
        }
        const delay = backoffDelay(
          this.#opts.backoff ?? { baseMs: 200, maxMs: 30_000, jitter: 0.5 },
          failures,
        );
        log.warn(
          { resource: this.type.plural, err: errorText(err), retryInMs: delay, failures },
          'watch failed, retrying',
        );
        this.#opts.onRestart?.('error');
        // Another error than 410 may still hide a gap (e.g. the list failed half-way): only a
        // reconnect with a known version is safe without a relist.
        if (!this.#resourceVersion) needList = true;
        // Shutdown must not wait out a back-off: the abort ends the pause (and the loop).
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  async #list(signal: AbortSignal): Promise<void> {
    const { client, namespace, labelSelector, fieldSelector, pageSize } = this.#opts;
    const path = resourcePath(this.type, { namespace });
    const seen = new Map<string, T>();
    let continueToken: string | undefined;
    let resourceVersion = '';
    do {
      const page = await client.request<ObjectList<T>>('GET', path, {
        query: { labelSelector, fieldSelector, limit: pageSize ?? 250, continue: continueToken },
        signal,
      });
      for (const item of page.items) {
        // Items of a list carry no apiVersion/kind; fill them so handlers see whole objects.
        item.apiVersion ??= this.type.group ? `${this.type.group}/${this.type.version}` : this.type.version;
        item.kind ??= this.type.kind;
        seen.set(objectKey(item), item);
      }
      continueToken = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion ?? '';
    } while (continueToken);
    this.#replace(seen);
    this.#resourceVersion = resourceVersion;
    if (!this.#synced) {
      this.#synced = true;
      for (const waiter of this.#syncWaiters.splice(0)) waiter();
    }
  }

  /** Makes the store equal to a fresh list, telling handlers only what really changed. */
  #replace(fresh: Map<string, T>): void {
    for (const key of this.store.keys()) {
      if (!fresh.has(key)) {
        const old = this.store.delete(key);
        if (old) this.#emit({ type: 'deleted', object: old });
      }
    }
    for (const obj of fresh.values()) this.#upsert(obj);
  }

  #upsert(obj: T): void {
    const old = this.store.get(objectKey(obj));
    if (old && old.metadata.resourceVersion === obj.metadata.resourceVersion) return;
    this.store.set(obj);
    this.#emit(old ? { type: 'updated', object: obj, old } : { type: 'added', object: obj });
  }

  async #watch(signal: AbortSignal): Promise<void> {
    const { client, namespace, labelSelector, fieldSelector, watchTimeoutSeconds } = this.#opts;
    const timeoutSeconds = watchTimeoutSeconds ?? 300;
    await client.watch<T>(
      resourcePath(this.type, { namespace }),
      {
        resourceVersion: this.#resourceVersion,
        allowWatchBookmarks: true,
        labelSelector,
        fieldSelector,
        timeoutSeconds,
      },
      (event) => this.#onEvent(event),
      { signal, idleTimeoutMs: Math.max(timeoutSeconds, 60) * 1000 + 60_000 },
    );
  }

  #onEvent(event: WatchEvent<T>): void {
    const obj = event.object;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
        this.#upsert(obj);
        break;
      case 'DELETED': {
        const old = this.store.delete(objectKey(obj));
        // The DELETED event carries the object's last state (e.g. a pod's final container statuses).
        this.#emit({ type: 'deleted', object: obj ?? old });
        break;
      }
      case 'BOOKMARK':
        break;
      case 'ERROR': {
        const status = obj as unknown as { code?: number; message?: string };
        throw new ApiError(
          'WATCH',
          resourcePath(this.type),
          status.code ?? 500,
          status,
          status.message ?? '',
        );
      }
    }
    const version = obj?.metadata?.resourceVersion;
    if (version) this.#resourceVersion = version;
  }

  #emit(change: Change<T>): void {
    for (const handler of this.#handlers) {
      try {
        handler(change);
      } catch (err) {
        this.#opts.log.error({ resource: this.type.plural, err: errorText(err) }, 'change handler failed');
      }
    }
  }
}
