import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { contentTypes, type KubeClient } from './client.ts';
import { errorText, isNotFound } from './errors.ts';
import { coreTypes, type ObjectMeta, resourcePath } from './resources.ts';

export type EventType = 'Normal' | 'Warning';

/** What an event is about: any object with its identity (a whole KubeObject will do). */
interface EventSubject {
  apiVersion?: string | undefined;
  kind?: string | undefined;
  metadata: Pick<ObjectMeta, 'name' | 'namespace' | 'uid' | 'resourceVersion'>;
}

interface EventRecorderOptions {
  client: KubeClient;
  log: Logger;
  /** Written to source.component and reportingComponent: who reported the event ("kubelet"). */
  component: string;
  /** This replica (pod name, node name): reportingInstance. */
  instance: string;
  /** source.host, as a kubelet sets it to its node name. */
  host?: string;
  /** A repeat within this window bumps the count of the existing Event instead of creating one. */
  seriesWindowMs?: number;
  /** Series remembered; the least recently used are forgotten first. */
  cacheSize?: number;
  /** The level each recorded event is also logged at (a kubelet's log is read like `describe`). */
  logLevel?: 'info' | 'debug';
  /**
   * Once aborted, nothing more is written and writes in flight are cancelled: an operator replica
   * that lost its lease must stop writing at once, events included.
   */
  signal?: AbortSignal;
}

interface Series {
  name: string;
  namespace: string;
  count: number;
  lastMs: number;
  /** The last write of this series: a repeat waits for it, so it patches the Event it created. */
  written: Promise<void>;
}

/**
 * Records core/v1 Events about objects, as `kubectl describe` and `kubectl get events` show them.
 * Like client-go's EventCorrelator, an event identical to a recent one (same object, field path,
 * type, reason and message) is not created again: the existing Event's count and lastTimestamp
 * are patched, so a flapping condition yields one line with "x12" rather than twelve objects.
 *
 * Timestamps are taken when `record` is called, so callers that do not wait (the kubelet) still
 * get events in the order things happened. Recording never throws: an event is information, and
 * a failure to write one must not fail a reconcile or a pod.
 */
export class EventRecorder {
  readonly #opts: EventRecorderOptions & Required<Pick<EventRecorderOptions, 'seriesWindowMs' | 'cacheSize'>>;
  readonly #series = new Map<string, Series>();
  readonly #inFlight = new Set<Promise<void>>();

  constructor(opts: EventRecorderOptions) {
    this.#opts = { seriesWindowMs: 10 * 60_000, cacheSize: 4096, ...opts };
  }

  /** Resolves once the Event is written (or the failure logged); callers may also not wait. */
  record(
    about: EventSubject,
    type: EventType,
    reason: string,
    message: string,
    opts: { fieldPath?: string } = {},
  ): Promise<void> {
    const { log, seriesWindowMs, cacheSize } = this.#opts;
    if (this.#opts.signal?.aborted) return Promise.resolve();
    const at = new Date();
    const event: Occurrence = { about, type, reason, message, fieldPath: opts.fieldPath, at };
    const namespace = about.metadata.namespace ?? 'default';
    log[this.#opts.logLevel ?? 'debug'](
      { object: `${namespace}/${about.metadata.name}`, fieldPath: opts.fieldPath, type, reason, message },
      'event',
    );
    const seriesKey = [about.metadata.uid, opts.fieldPath ?? '', type, reason, message].join('\u0000');
    const previous = this.#series.get(seriesKey);
    let write: Promise<void>;
    if (previous && at.getTime() - previous.lastMs < seriesWindowMs) {
      previous.lastMs = at.getTime();
      // Re-insert: Map iteration order is insertion order, which makes this an LRU.
      this.#series.delete(seriesKey);
      this.#series.set(seriesKey, previous);
      write = previous.written.catch(() => undefined).then(() => this.#repeat(previous, event));
      previous.written = write;
    } else {
      const series: Series = {
        name: eventName(about, at),
        namespace,
        count: 1,
        lastMs: at.getTime(),
        written: Promise.resolve(),
      };
      write = this.#create(series, event);
      series.written = write;
      this.#series.set(seriesKey, series);
      if (this.#series.size > cacheSize) {
        const oldest = this.#series.keys().next().value;
        if (oldest !== undefined) this.#series.delete(oldest);
      }
    }
    const logged = write.catch((err: unknown) => {
      log.warn({ reason, object: about.metadata.name, err: errorText(err) }, 'could not record event');
    });
    this.#inFlight.add(logged);
    void logged.finally(() => this.#inFlight.delete(logged));
    return logged;
  }

  /** Resolves when every event recorded so far is written (e.g. before a pod is removed). */
  async flush(): Promise<void> {
    await Promise.all([...this.#inFlight]);
  }

  async #repeat(series: Series, event: Occurrence): Promise<void> {
    series.count++;
    try {
      await this.#opts.client.request(
        'PATCH',
        resourcePath(coreTypes.event, { namespace: series.namespace, name: series.name }),
        {
          body: { count: series.count, lastTimestamp: event.at.toISOString() },
          contentType: contentTypes.mergePatch,
          signal: this.#opts.signal,
        },
      );
    } catch (err) {
      // The Event expired (the API server keeps them for an hour by default): start a new one.
      if (!isNotFound(err)) throw err;
      series.name = eventName(event.about, event.at);
      series.count = 1;
      await this.#create(series, event);
    }
  }

  async #create(series: Series, event: Occurrence): Promise<void> {
    const { client, component, instance, host, signal } = this.#opts;
    const { about, type, reason, message, fieldPath, at } = event;
    const { name, namespace } = series;
    await client.request('POST', resourcePath(coreTypes.event, { namespace }), {
      signal,
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: about.apiVersion,
          kind: about.kind,
          name: about.metadata.name,
          namespace: about.metadata.namespace,
          uid: about.metadata.uid,
          resourceVersion: about.metadata.resourceVersion,
          ...(fieldPath ? { fieldPath } : {}),
        },
        type,
        reason,
        message,
        count: series.count,
        firstTimestamp: at.toISOString(),
        lastTimestamp: at.toISOString(),
        source: host ? { component, host } : { component },
        reportingComponent: component,
        reportingInstance: instance,
      },
    });
  }
}

/** One call of record(): what happened to which object, and when. */
interface Occurrence {
  about: EventSubject;
  type: EventType;
  reason: string;
  message: string;
  fieldPath: string | undefined;
  at: Date;
}

/** "<object>.<ms in hex><random>", as client-go names Events: unique, and sorted by time. */
function eventName(about: EventSubject, at: Date): string {
  return `${about.metadata.name}.${at.getTime().toString(16)}${randomBytes(3).toString('hex')}`;
}
