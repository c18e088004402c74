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

interface LeaderElectionOptions {
  client: Pick<KubeClient, 'request'>;
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

/** A monotonic clock in ms: the wall clock (Date) can jump (NTP, a VM resumed), this cannot. */
const monotonicMs = () => performance.now();

/**
 * Leader election on a coordination.k8s.io/v1 Lease, following client-go's leaderelection:
 *  - Updates use the Lease's resourceVersion, so of two replicas racing for it exactly one wins
 *    (the API server answers the other with 409 Conflict).
 *  - Expiry is judged by this replica's own monotonic clock from the moment it last saw the record
 *    change, never by comparing its clock with the holder's renewTime (clocks of two machines may
 *    differ) and never by the wall clock, which can jump.
 *  - The leader renews every retry period. Its leadership lasts until the renew deadline after the
 *    start of its last successful renewal (the start, not the answer: the API server may have
 *    written the renewal any time after it was sent, and a standby's lease duration counts from
 *    when it saw that write). Every request of a renewal is bounded by what is left of that
 *    window, so a GET or PUT hanging on a dead connection cannot keep it "leading" past it: at the
 *    deadline the attempt is aborted and `onLost` runs, well before a standby may take over
 *    (lease duration > renew deadline).
 *  - On shutdown the leader releases the lease (empty holder, 1 s duration) so a standby takes
 *    over at once instead of waiting for the lease to expire.
 */
export class LeaderElector {
  readonly #opts: Required<LeaderElectionOptions>;
  readonly #path: string;
  #observed: { holder: string; renewTime: string } | undefined;
  /** Monotonic ms at which #observed last changed. */
  #observedAt = 0;
  /** Monotonic ms at which the last successful acquire or renewal was started. */
  #renewedAt = 0;
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

  /**
   * True once this replica has led and its renew deadline has passed by the monotonic clock, even
   * if the timer that ends the renewal attempt has not fired yet: on a starved event loop timers run
   * hundreds of ms late, and reconciles woken meanwhile would write while a standby may already
   * lead (seen in CI at load 8: writes up to 830 ms past the deadline). The write fence (main.ts)
   * asks this before every mutating request.
   */
  pastRenewDeadline(): boolean {
    return this.#renewedAt > 0 && monotonicMs() >= this.#renewedAt + this.#opts.renewDeadlineMs;
  }

  /** Resolves true once this replica holds the lease, false if `signal` aborts first. */
  async acquire(signal: AbortSignal): Promise<boolean> {
    const { log, identity, retryPeriodMs, renewDeadlineMs } = this.#opts;
    let lastHolder = '';
    while (!signal.aborted) {
      // A leadership won by an attempt that took long has that much less left of its window.
      if (
        await this.#tryAcquireOrRenew(
          AbortSignal.any([signal, AbortSignal.timeout(Math.ceil(renewDeadlineMs))]),
        )
      ) {
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

  /**
   * Renews the lease in the background; `onLost` runs once, at the renew deadline at the latest,
   * if renewal fails until then (requests still in flight are aborted).
   */
  keepRenewing(onLost: (reason: string) => void): void {
    const { retryPeriodMs, renewDeadlineMs, log } = this.#opts;
    const stop = this.#stopRenewing.signal;
    this.#renewing = (async () => {
      while (!stop.aborted) {
        const left = () => this.#renewedAt + renewDeadlineMs - monotonicMs();
        await sleep(Math.max(0, Math.min(retryPeriodMs, left())), undefined, { signal: stop }).catch(
          () => undefined,
        );
        if (stop.aborted) return;
        if (left() > 0) {
          // Every request of this attempt ends by the deadline, answered or not.
          const window = AbortSignal.any([stop, AbortSignal.timeout(Math.max(1, Math.ceil(left())))]);
          if (await this.#tryAcquireOrRenew(window)) continue;
          if (stop.aborted) return;
        }
        if (left() <= 0) {
          this.#leading = false;
          log.error(
            { lease: this.#opts.name, renewDeadlineMs },
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
    const { client, identity, name, renewDeadlineMs, log } = this.#opts;
    const deadline = AbortSignal.timeout(renewDeadlineMs);
    let lease = this.#lease;
    // Two tries: a renewal that stopRenewing aborted may still have reached the API server, moving
    // the Lease's resourceVersion past the one we hold, so the first PUT can meet a 409. Then the
    // Lease is read again and handed back if we still hold it.
    for (let attempt = 1; ; attempt++) {
      const now = microTime(new Date());
      try {
        await client.request('PUT', this.#path, {
          body: {
            ...lease,
            spec: {
              ...lease.spec,
              holderIdentity: null,
              leaseDurationSeconds: 1,
              renewTime: now,
              acquireTime: now,
            },
          },
          signal: deadline,
        });
        log.info({ lease: name }, 'released the lease');
        return;
      } catch (err) {
        if (attempt === 1 && isConflict(err) && !deadline.aborted) {
          try {
            lease = await client.request<Lease>('GET', this.#path, { signal: deadline });
          } catch (readErr) {
            log.warn({ lease: name, err: errorText(readErr) }, 'could not release the lease');
            return;
          }
          if ((lease.spec?.holderIdentity ?? '') !== identity) return; // someone else holds it already
          continue;
        }
        // Not fatal: the lease simply expires after its duration.
        log.warn(
          { lease: name, err: errorText(deadline.aborted ? deadline.reason : err) },
          'could not release the lease',
        );
        return;
      }
    }
  }

  /** One attempt; every request ends when `window` aborts (the attempt then counts as failed). */
  async #tryAcquireOrRenew(window: AbortSignal): Promise<boolean> {
    const { client, identity, namespace, name, leaseDurationMs, log } = this.#opts;
    const started = monotonicMs();
    const now = new Date();
    const spec: LeaseSpec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
      // Lease times are records for people and other clients (MicroTime); expiry is never judged
      // from them (see #observedAt).
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    const won = (lease: Lease) => {
      this.#lease = lease;
      this.#see(lease);
      this.#renewedAt = started;
      return true;
    };
    let current: Lease;
    try {
      current = await client.request<Lease>('GET', this.#path, { signal: window });
    } catch (err) {
      if (!isNotFound(err)) {
        log.warn(
          { lease: name, err: errorText(window.aborted ? window.reason : err) },
          'could not read the lease',
        );
        return false;
      }
      try {
        return won(
          await client.request<Lease>('POST', resourcePath(coreTypes.lease, { namespace }), {
            body: {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name, namespace },
              spec,
            },
            signal: window,
          }),
        );
      } catch (createErr) {
        if (!isConflict(createErr))
          log.warn({ lease: name, err: errorText(createErr) }, 'could not create the lease');
        return false;
      }
    }
    this.#see(current);
    const holder = current.spec?.holderIdentity ?? '';
    const durationMs = (current.spec?.leaseDurationSeconds ?? 15) * 1000;
    if (holder && holder !== identity && monotonicMs() - this.#observedAt < durationMs) return false;
    if (holder === identity) {
      spec.acquireTime = current.spec?.acquireTime ?? spec.acquireTime;
      spec.leaseTransitions = current.spec?.leaseTransitions ?? 0;
    } else {
      spec.leaseTransitions = (current.spec?.leaseTransitions ?? 0) + 1;
    }
    try {
      // The resourceVersion in the body makes this a compare-and-swap.
      return won(
        await client.request<Lease>('PUT', this.#path, { body: { ...current, spec }, signal: window }),
      );
    } catch (err) {
      if (!isConflict(err))
        log.warn(
          { lease: name, err: errorText(window.aborted ? window.reason : err) },
          'could not update the lease',
        );
      return false;
    }
  }

  #see(lease: Lease): void {
    const record = { holder: lease.spec?.holderIdentity ?? '', renewTime: lease.spec?.renewTime ?? '' };
    if (this.#observed?.holder !== record.holder || this.#observed.renewTime !== record.renewTime) {
      this.#observed = record;
      this.#observedAt = monotonicMs();
    }
  }
}

/** Lease times are metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
