import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { contentTypes, type KubeClient } from '../../kube/client.ts';
import { ApiError } from '../../kube/errors.ts';
import { coreTypes, resourcePath } from '../../kube/resources.ts';

/**
 * Writes a pod's status to pods/status and never loses an update: the latest desired status is
 * kept, writes are serialized, and failures are retried with back-off until they succeed or the
 * pod is gone (404) or its UID changed. Like the kubelet's status manager, intermediate states
 * may be coalesced, the last one is always written.
 *
 * Strategic merge patch: `conditions` merge by type, so the scheduler's PodScheduled and the
 * disruption controller's DisruptionTarget are kept; the container status lists are replaced.
 */
export class PodStatusWriter {
  readonly #api: KubeClient;
  readonly #log: Logger;
  readonly #namespace: string;
  readonly #name: string;
  readonly #uid: string;
  #desired: unknown;
  #desiredVersion = 0;
  #writtenVersion = 0;
  #writing: Promise<void> | undefined;
  #waiters: { version: number; resolve: () => void }[] = [];
  #gone = false;
  #lastJson = '';

  constructor(api: KubeClient, log: Logger, namespace: string, name: string, uid: string) {
    this.#api = api;
    this.#log = log;
    this.#namespace = namespace;
    this.#name = name;
    this.#uid = uid;
  }

  /** Queues a status; resolves when that status (or a later one) is in the API. */
  set(status: unknown): Promise<void> {
    const json = JSON.stringify(status);
    if (json === this.#lastJson) return this.flushed();
    this.#lastJson = json;
    this.#desired = status;
    this.#desiredVersion++;
    const version = this.#desiredVersion;
    const done = new Promise<void>((resolve) => this.#waiters.push({ version, resolve }));
    this.#kick();
    return done;
  }

  flushed(): Promise<void> {
    if (this.#writtenVersion >= this.#desiredVersion || this.#gone) return Promise.resolve();
    const version = this.#desiredVersion;
    return new Promise<void>((resolve) => this.#waiters.push({ version, resolve }));
  }

  /** The pod left the API: stop retrying and release waiters. */
  markGone(): void {
    this.#gone = true;
    this.#release(Number.MAX_SAFE_INTEGER);
  }

  #release(version: number): void {
    const keep: { version: number; resolve: () => void }[] = [];
    for (const w of this.#waiters) (w.version <= version ? w.resolve : () => keep.push(w))();
    this.#waiters = keep;
  }

  #kick(): void {
    if (this.#writing) return;
    this.#writing = this.#loop().finally(() => {
      this.#writing = undefined;
      if (!this.#gone && this.#writtenVersion < this.#desiredVersion) this.#kick();
    });
  }

  async #loop(): Promise<void> {
    let delay = 100;
    while (!this.#gone && this.#writtenVersion < this.#desiredVersion) {
      const version = this.#desiredVersion;
      const body = { metadata: { uid: this.#uid }, status: this.#desired };
      try {
        await this.#api.request(
          'PATCH',
          resourcePath(coreTypes.pod, {
            namespace: this.#namespace,
            name: this.#name,
            subresource: 'status',
          }),
          { body, contentType: contentTypes.strategicMergePatch },
        );
        this.#writtenVersion = version;
        this.#release(version);
        delay = 100;
      } catch (err) {
        // A UID in the patch acts as a precondition: 409 means the name now belongs to another pod.
        if (err instanceof ApiError && (err.code === 404 || (err.code === 409 && /uid/i.test(err.message)))) {
          this.#log.info(
            { pod: `${this.#namespace}/${this.#name}`, code: err.code },
            'pod gone, status dropped',
          );
          this.markGone();
          return;
        }
        this.#log.warn(
          { pod: `${this.#namespace}/${this.#name}`, err: String(err) },
          'status write failed, retrying',
        );
        await sleep(delay);
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }
}
