import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { contentTypes, errorText, isNotFound, type KubeClient } from './client.ts';
import { coreTypes, type KubeObject, resourcePath } from './resources.ts';

export type EventType = 'Normal' | 'Warning';

interface SeriesEntry {
  name: string;
  namespace: string;
  count: number;
  lastMs: number;
}

export interface EventRecorderOptions {
  client: KubeClient;
  log: Logger;
  /** Written to source.component and reportingComponent: who reported the event. */
  component: string;
  /** This replica (pod name): reportingInstance. */
  instance: string;
  /** A repeat within this window bumps the count of the existing Event instead of creating one. */
  seriesWindowMs?: number;
  /** Series remembered; the oldest are forgotten first. */
  cacheSize?: number;
}

/**
 * Records core/v1 Events about objects, as `kubectl describe` and `kubectl get events` show them.
 * Like client-go's EventCorrelator, an event identical to a recent one (same object, type, reason
 * and message) is not created again: the existing Event's count and lastTimestamp are patched, so a
 * flapping condition yields one line with "x12" rather than twelve objects.
 * Recording never throws: an event is information, and a failure to write one must not fail a
 * reconcile.
 */
export class EventRecorder {
  readonly #opts: Required<EventRecorderOptions>;
  readonly #series = new Map<string, SeriesEntry>();

  constructor(opts: EventRecorderOptions) {
    this.#opts = { seriesWindowMs: 10 * 60_000, cacheSize: 4096, ...opts };
  }

  async record(about: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const { client, log, component, instance, seriesWindowMs, cacheSize } = this.#opts;
    const namespace = about.metadata.namespace ?? 'default';
    const seriesKey = [about.metadata.uid, type, reason, message].join('\u0000');
    const now = new Date();
    const previous = this.#series.get(seriesKey);
    try {
      if (previous && now.getTime() - previous.lastMs < seriesWindowMs) {
        previous.count++;
        previous.lastMs = now.getTime();
        // Re-insert: Map iteration order is insertion order, which makes this an LRU.
        this.#series.delete(seriesKey);
        this.#series.set(seriesKey, previous);
        try {
          await client.request(
            'PATCH',
            resourcePath(coreTypes.event, { namespace: previous.namespace, name: previous.name }),
            {
              body: { count: previous.count, lastTimestamp: now.toISOString() },
              contentType: contentTypes.mergePatch,
            },
          );
          return;
        } catch (err) {
          // The Event expired (the API server keeps them for an hour by default): start a new one.
          if (!isNotFound(err)) throw err;
        }
      }
      const name = `${about.metadata.name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`;
      await client.request('POST', resourcePath(coreTypes.event, { namespace }), {
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
          },
          type,
          reason,
          message,
          count: 1,
          firstTimestamp: now.toISOString(),
          lastTimestamp: now.toISOString(),
          source: { component },
          reportingComponent: component,
          reportingInstance: instance,
        },
      });
      this.#series.set(seriesKey, { name, namespace, count: 1, lastMs: now.getTime() });
      if (this.#series.size > cacheSize) {
        const oldest = this.#series.keys().next().value;
        if (oldest !== undefined) this.#series.delete(oldest);
      }
    } catch (err) {
      log.warn({ reason, object: about.metadata.name, err: errorText(err) }, 'could not record event');
    }
  }
}
