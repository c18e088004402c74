import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { KubeClient } from '../../kube/client.ts';
import { errorText, isConflict, isNotFound } from '../../kube/errors.ts';
import { coreTypes, type KubeObject, resourcePath } from '../../kube/resources.ts';

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  /** Unique per replica: the pod name plus a random suffix. */
  identity: string;
  log: Logger;
  /** How long a lease holds after its last renewal (client-go default 15 s). */
  leaseDurationMs?: number;
  /** The leader gives up if it could not renew for this long (client-go default 10 s). */
  renewDeadlineMs?: number;
  /** Time between attempts to acquire or renew (client-go default 2 s). */
  retryPeriodMs?: number;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, following client-go's leaderelection:
 *  - Updates use the Lease's resourceVersion, so of two replicas racing for it exactly one wins
 *    (the API server answers the other with 409 Conflict).
 *  - Expiry is judged by this replica's own clock from the moment it last saw the record change,
 *    never by comparing its clock with the holder's renewTime: clocks of two machines may differ.
 *  - The leader renews every retry period; if it cannot renew within the renew deadline it must
 *    stop acting as leader (the caller exits), since another replica may take over after the lease
 *    duration.
 *  - On shutdown the leader releases the lease (empty holder, 1 s duration) so a standby takes
 *    over at once instead of waiting for the lease to expire.
 */
export class LeaderElector {
  readonly #opts: Required<LeaderElectionOptions>;
  readonly #path: string;
  #observed: { holder: string; renewTime: string } | undefined;
  #observedAt = 0;
  #lease: Lease | undefined;
  #leading = false;
  #renewing: Promise<void> | undefined;
  readonly #stopRenewing = new AbortController();

  constructor(opts: LeaderElectionOptions) {
    this.#opts = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
    this.#path = resourcePath(coreTypes.lease, { namespace: opts.namespace, name: opts.name });
  }

  get leading(): boolean {
    return this.#leading;
  }

  /** Resolves true once this replica holds the lease, false if `signal` aborts first. */
  async acquire(signal: AbortSignal): Promise<boolean> {
    const { log, identity, retryPeriodMs } = this.#opts;
    let lastHolder = '';
    while (!signal.aborted) {
      if (await this.#tryAcquireOrRenew()) {
        this.#leading = true;
        log.info({ lease: this.#opts.name, identity }, 'became leader');
        return true;
      }
      const holder = this.#observed?.holder ?? '';
      if (holder !== lastHolder) {
        log.info({ lease: this.#opts.name, holder }, 'lease held by another replica, standing by');
        lastHolder = holder;
      }
      await sleep(retryPeriodMs * (1 + 0.2 * Math.random()), undefined, { signal }).catch(() => undefined);
    }
    return false;
  }

  /** Renews the lease in the background; `onLost` runs once if renewal fails past the deadline. */
  keepRenewing(onLost: (reason: string) => void): void {
    const { retryPeriodMs, renewDeadlineMs, log } = this.#opts;
    const signal = this.#stopRenewing.signal;
    this.#renewing = (async () => {
      let lastRenew = Date.now();
      while (!signal.aborted) {
        await sleep(retryPeriodMs, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) return;
        if (await this.#tryAcquireOrRenew()) {
          lastRenew = Date.now();
          continue;
        }
        if (Date.now() - lastRenew > renewDeadlineMs) {
          this.#leading = false;
          log.error(
            { lease: this.#opts.name },
            'could not renew the lease before the deadline: leadership lost',
          );
          onLost('renew deadline exceeded');
          return;
        }
      }
    })();
  }

  /** Stops renewing and, if still leader, hands the lease back. */
  async release(): Promise<void> {
    this.#stopRenewing.abort();
    await this.#renewing;
    if (!this.#leading || !this.#lease) return;
    this.#leading = false;
    const now = microTime(new Date());
    const lease: Lease = {
      ...this.#lease,
      spec: {
        ...this.#lease.spec,
        holderIdentity: null,
        leaseDurationSeconds: 1,
        renewTime: now,
        acquireTime: now,
      },
    };
    try {
      await this.#opts.client.request('PUT', this.#path, { body: lease });
      this.#opts.log.info({ lease: this.#opts.name }, 'released the lease');
    } catch (err) {
      // Not fatal: the lease simply expires after its duration.
      this.#opts.log.warn({ lease: this.#opts.name, err: errorText(err) }, 'could not release the lease');
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { client, identity, namespace, name, leaseDurationMs, log } = this.#opts;
    const now = new Date();
    const spec: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    let current: Lease;
    try {
      current = await client.request<Lease>('GET', this.#path);
    } catch (err) {
      if (!isNotFound(err)) {
        log.warn({ lease: name, err: errorText(err) }, 'could not read the lease');
        return false;
      }
      try {
        this.#lease = await client.request<Lease>('POST', resourcePath(coreTypes.lease, { namespace }), {
          body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec },
        });
        this.#see(this.#lease);
        return true;
      } catch (createErr) {
        if (!isConflict(createErr))
          log.warn({ lease: name, err: errorText(createErr) }, 'could not create the lease');
        return false;
      }
    }
    this.#see(current);
    const holder = current.spec?.holderIdentity ?? '';
    const durationMs = (current.spec?.leaseDurationSeconds ?? 15) * 1000;
    if (holder && holder !== identity && Date.now() - this.#observedAt < durationMs) return false;
    if (holder === identity) {
      spec.acquireTime = current.spec?.acquireTime ?? spec.acquireTime;
      spec.leaseTransitions = current.spec?.leaseTransitions ?? 0;
    } else {
      spec.leaseTransitions = (current.spec?.leaseTransitions ?? 0) + 1;
    }
    try {
      // The resourceVersion in the body makes this a compare-and-swap.
      this.#lease = await client.request<Lease>('PUT', this.#path, { body: { ...current, spec } });
      this.#see(this.#lease);
      return true;
    } catch (err) {
      if (!isConflict(err)) log.warn({ lease: name, err: errorText(err) }, 'could not update the lease');
      return false;
    }
  }

  #see(lease: Lease): void {
    const record = { holder: lease.spec?.holderIdentity ?? '', renewTime: lease.spec?.renewTime ?? '' };
    if (this.#observed?.holder !== record.holder || this.#observed.renewTime !== record.renewTime) {
      this.#observed = record;
      this.#observedAt = Date.now();
    }
  }
}

/** Lease times are metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
