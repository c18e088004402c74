import type { Logger } from 'pino';
import { ApiError, type KubeApi, type WatchEvent } from './rest.ts';

/**
 * List + watch into a local store (client-go's Reflector). Reconnects continue from the last
 * resourceVersion; a 410 Gone (as an HTTP status or a watch ERROR event) forces a fresh list.
 * Consumers are level-triggered: they get the key that changed and read the store, so duplicate or
 * replayed events are harmless.
 */
export interface KubeObject {
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export interface ReflectorOptions {
  api: KubeApi;
  /** Collection path, e.g. /api/v1/pods */
  path: string;
  query?: Record<string, string>;
  log: Logger;
  /** Called with the key (namespace/name) and the object now stored (undefined when deleted). */
  onChange: (key: string, current: KubeObject | undefined, previous: KubeObject | undefined) => void;
  /** Called after every successful list (initial sync and relists). */
  onSynced?: () => void;
}

export function keyOf(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

interface ListResult {
  metadata: { resourceVersion: string };
  items: KubeObject[];
}

export class Reflector<T extends KubeObject> {
  readonly store = new Map<string, T>();
  private readonly opts: ReflectorOptions;
  private readonly abort = new AbortController();
  private resourceVersion = '';
  private stopped = false;
  synced = false;

  constructor(opts: ReflectorOptions) {
    this.opts = opts;
  }

  list(): T[] {
    return [...this.store.values()];
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  /** Runs until stop(); resolves after the first successful list. */
  async start(): Promise<void> {
    await new Promise<void>((resolve) => {
      void this.loop(resolve);
    });
  }

  private async relist(): Promise<void> {
    const params = new URLSearchParams(this.opts.query ?? {});
    const list = await this.opts.api.get<ListResult>(`${this.opts.path}?${params}`);
    const seen = new Set<string>();
    for (const item of list.items) {
      const key = keyOf(item);
      seen.add(key);
      const previous = this.store.get(key);
      this.store.set(key, item as T);
      if (previous?.metadata.resourceVersion !== item.metadata.resourceVersion) {
        this.opts.onChange(key, item, previous);
      }
    }
    for (const [key, previous] of this.store) {
      if (!seen.has(key)) {
        this.store.delete(key);
        this.opts.onChange(key, undefined, previous);
      }
    }
    this.resourceVersion = list.metadata.resourceVersion;
    this.synced = true;
    this.opts.onSynced?.();
  }

  private apply(e: WatchEvent<KubeObject>): void {
    if (e.type === 'BOOKMARK') {
      this.resourceVersion = e.object.metadata.resourceVersion ?? this.resourceVersion;
      return;
    }
    if (e.type === 'ERROR') {
      const status = e.object as unknown as { code?: number; message?: string };
      throw new ApiError('WATCH', this.opts.path, status.code ?? 500, status);
    }
    const key = keyOf(e.object);
    const previous = this.store.get(key);
    if (e.type === 'DELETED') this.store.delete(key);
    else this.store.set(key, e.object as T);
    this.resourceVersion = e.object.metadata.resourceVersion ?? this.resourceVersion;
    this.opts.onChange(key, e.type === 'DELETED' ? undefined : e.object, previous);
  }

  private async loop(onFirstSync: () => void): Promise<void> {
    let delay = 200;
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          onFirstSync();
          needList = false;
        }
        await this.opts.api.watch<KubeObject>(
          this.opts.path,
          {
            ...(this.opts.query ?? {}),
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: 'true',
            timeoutSeconds: String(240 + Math.floor(Math.random() * 60)),
          },
          (e) => this.apply(e),
          this.abort.signal,
        );
        delay = 200;
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof ApiError && err.code === 410) {
          this.opts.log.info({ path: this.opts.path }, 'watch expired (410 Gone), relisting');
          needList = true;
          continue;
        }
        this.opts.log.warn({ path: this.opts.path, err: String(err) }, 'list/watch failed, retrying');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5_000);
        // After repeated failures start over with a list: the store may have missed deletions.
        if (delay >= 5_000) needList = true;
      }
    }
  }
}
