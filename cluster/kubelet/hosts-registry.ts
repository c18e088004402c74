import type { Logger } from 'pino';
import { type HostsPod, renderHosts, type ServiceAddress, writeInPlace } from './hosts.ts';

/** Keeps every pod's hosts file in step with the Services the watch reports. */
export class HostsRegistry {
  readonly #pods = new Map<string, { file: string; pod: HostsPod }>();
  #services: () => ServiceAddress[];
  readonly #log: Logger;
  #pending: NodeJS.Timeout | undefined;

  constructor(services: () => ServiceAddress[], log: Logger) {
    this.#services = services;
    this.#log = log;
  }

  async register(uid: string, file: string, pod: HostsPod): Promise<void> {
    this.#pods.set(uid, { file, pod });
    await writeInPlace(file, renderHosts(pod, this.#services()));
  }

  unregister(uid: string): void {
    this.#pods.delete(uid);
  }

  /** Services changed: rewrite all files soon (coalesces bursts of watch events). */
  servicesChanged(): void {
    if (this.#pending) return;
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      const services = this.#services();
      for (const { file, pod } of this.#pods.values()) {
        writeInPlace(file, renderHosts(pod, services)).catch((err) =>
          this.#log.warn({ file, err: String(err) }, 'hosts file not rewritten'),
        );
      }
    }, 20);
  }
}
