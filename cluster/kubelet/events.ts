import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { type KubeApi, MERGE_PATCH } from './kube/rest.ts';

/**
 * Events as the kubelet records them (source component "kubelet", host = node name), so
 * `kubectl describe pod` reads like on a real node. Repeats of the same (object, reason, message)
 * bump count/lastTimestamp instead of creating a new Event, like client-go's event correlator.
 */
export interface EventTarget {
  kind: string;
  name: string;
  namespace: string;
  uid: string;
  apiVersion: string;
  fieldPath?: string;
}

interface Recorded {
  name: string;
  namespace: string;
  count: number;
}

export class EventRecorder {
  private readonly api: KubeApi;
  private readonly node: string;
  private readonly log: Logger;
  private readonly seen = new Map<string, Recorded>();
  private chain: Promise<void> = Promise.resolve();

  constructor(api: KubeApi, node: string, log: Logger) {
    this.api = api;
    this.node = node;
    this.log = log;
  }

  /** Fire and forget; events are ordered per recorder and never block the caller. */
  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.log.info(
      { object: `${target.namespace}/${target.name}`, fieldPath: target.fieldPath, reason, message },
      'event',
    );
    this.chain = this.chain
      .then(() => this.write(target, type, reason, message))
      .catch((err) => {
        this.log.warn({ err: String(err), reason }, 'event not recorded');
      });
  }

  flush(): Promise<void> {
    return this.chain;
  }

  private async write(target: EventTarget, type: string, reason: string, message: string): Promise<void> {
    const now = new Date().toISOString();
    const key = `${target.uid}|${target.fieldPath ?? ''}|${reason}|${message}`;
    const prior = this.seen.get(key);
    if (prior) {
      prior.count++;
      try {
        await this.api.request(
          'PATCH',
          `/api/v1/namespaces/${prior.namespace}/events/${prior.name}`,
          { count: prior.count, lastTimestamp: now },
          MERGE_PATCH,
        );
        return;
      } catch {
        this.seen.delete(key); // expired or deleted: create a fresh one
      }
    }
    const name = `${target.name}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`;
    await this.api.request('POST', `/api/v1/namespaces/${target.namespace}/events`, {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: target.namespace },
      involvedObject: {
        kind: target.kind,
        name: target.name,
        namespace: target.namespace,
        uid: target.uid,
        apiVersion: target.apiVersion,
        ...(target.fieldPath ? { fieldPath: target.fieldPath } : {}),
      },
      reason,
      message,
      type,
      source: { component: 'kubelet', host: this.node },
      reportingComponent: 'kubelet',
      reportingInstance: this.node,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
    this.seen.set(key, { name, namespace: target.namespace, count: 1 });
    if (this.seen.size > 5_000) this.seen.clear();
  }
}
