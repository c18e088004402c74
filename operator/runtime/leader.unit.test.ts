// LeaderElector against an in-memory Lease endpoint whose requests can hang, as they do on a dead
// connection: the leader must give up at its renew deadline, not when a socket times out, and
// expiry must not follow the wall clock. (The real API server version: test/operator/leader-stall.test.ts.)
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../kube/errors.ts';
import { waitFor } from '../../kube/poll.ts';
import { LeaderElector, type LeaseSpec } from './leader.ts';

const log = pino({ level: 'silent' });

interface Call {
  method: string;
  signal: AbortSignal | undefined;
  timeoutMs: number | undefined;
}

/** A Lease endpoint: answers from `lease`, or hangs every request while `stalled` (until aborted). */
function fakeLeaseApi(initial?: LeaseSpec) {
  let lease = initial
    ? { metadata: { name: 'l', namespace: 'ns', resourceVersion: '1' }, spec: initial }
    : undefined;
  const api = {
    stalled: false,
    calls: [] as Call[],
    /** The Lease as stored (what a GET would answer). */
    stored: () => lease,
    /** A write that reached the store although its caller gave up on it: the resourceVersion moves on. */
    landBehindTheCallersBack: () => {
      if (lease)
        lease = {
          ...lease,
          metadata: { ...lease.metadata, resourceVersion: `${lease.metadata.resourceVersion}0` },
        };
    },
    request: async <T>(
      method: string,
      path: string,
      opts: { body?: unknown; signal?: AbortSignal; timeoutMs?: number } = {},
    ): Promise<T> => {
      api.calls.push({ method, signal: opts.signal, timeoutMs: opts.timeoutMs });
      if (api.stalled) {
        // A request on a dead connection: nothing comes back; only an abort or a deadline ends it.
        return new Promise<T>((_resolve, reject) => {
          opts.signal?.addEventListener('abort', () => reject(opts.signal?.reason), { once: true });
          if (opts.timeoutMs !== undefined) setTimeout(() => reject(new Error('timeout')), opts.timeoutMs);
        });
      }
      if (method === 'GET') {
        if (!lease) throw new ApiError(method, path, 404, { reason: 'NotFound' } as never, '');
        return structuredClone(lease) as T;
      }
      const body = opts.body as { metadata?: { resourceVersion?: string }; spec: LeaseSpec };
      // The resourceVersion in a PUT's body makes it a compare-and-swap, as on the API server.
      if (method === 'PUT' && body.metadata?.resourceVersion !== lease?.metadata.resourceVersion) {
        throw new ApiError(method, path, 409, { reason: 'Conflict' } as never, '');
      }
      const version = String(Number(lease?.metadata.resourceVersion ?? '0') + 1);
      lease = { metadata: { name: 'l', namespace: 'ns', resourceVersion: version }, spec: body.spec };
      return structuredClone(lease) as T;
    },
  };
  return api;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('LeaderElector', () => {
  it('gives up at the renew deadline while a renewal hangs, aborting its requests', async () => {
    const api = fakeLeaseApi();
    const elector = new LeaderElector({
      client: api,
      namespace: 'ns',
      name: 'l',
      identity: 'me',
      log,
      leaseDurationMs: 2_000,
      renewDeadlineMs: 400,
      retryPeriodMs: 50,
    });
    const acquiring = performance.now();
    expect(await elector.acquire(new AbortController().signal)).toBe(true);
    api.stalled = true;
    let lostAt: number | undefined;
    elector.keepRenewing(() => {
      lostAt = performance.now();
    });
    // The write fence's question turns true at the deadline, whether or not onLost ran yet.
    expect(elector.pastRenewDeadline()).toBe(false);
    await waitFor('past the renew deadline', () => elector.pastRenewDeadline(), { timeoutMs: 10_000 });
    expect(performance.now() - acquiring).toBeGreaterThanOrEqual(400);
    // Without a deadline on each request this never happens (the fake never answers).
    await waitFor('leadership lost', () => lostAt !== undefined, { timeoutMs: 10_000 });
    expect(elector.leading).toBe(false);
    // Not before the deadline counted from the start of the last successful acquire.
    expect((lostAt ?? 0) - acquiring).toBeGreaterThanOrEqual(400);
    const hung = api.calls.filter((c) => c.method === 'GET').slice(1);
    expect(hung.length).toBeGreaterThan(0);
    // Every renewal request was bounded, and none is left running.
    for (const call of hung) expect(call.signal?.aborted).toBe(true);
    await elector.release();
  });

  it('judges expiry on a monotonic clock: a wall clock jump does not expire a lease', async () => {
    const api = fakeLeaseApi({
      holderIdentity: 'other',
      leaseDurationSeconds: 60,
      renewTime: '2026-12-01T00:00:00.000000Z',
    });
    const elector = new LeaderElector({
      client: api,
      namespace: 'ns',
      name: 'l',
      identity: 'me',
      log,
      retryPeriodMs: 10,
    });
    const stop = new AbortController();
    const acquired = elector.acquire(stop.signal);
    await waitFor('the lease seen once', () => api.calls.some((c) => c.method === 'GET'));
    // The wall clock jumps two hours ahead (NTP, a resumed VM); the holder's record never changed.
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() + 2 * 3_600_000);
    const gets = () => api.calls.filter((c) => c.method === 'GET').length;
    const seen = gets();
    // waitFor reads Date.now too: poll a count of attempts instead of a time.
    for (let i = 0; i < 200 && gets() < seen + 5; i++) await new Promise((r) => setTimeout(r, 10));
    expect(gets()).toBeGreaterThanOrEqual(seen + 5);
    expect(api.calls.filter((c) => c.method === 'PUT')).toEqual([]);
    stop.abort();
    expect(await acquired).toBe(false);
  });

  it('hands the lease back even when an aborted renewal landed and moved its resourceVersion on', async () => {
    // Seen in a CI run: release() aborts the renewal in flight, but that PUT had reached the API
    // server; the release then met a 409, and the standby had to wait for the lease to expire.
    const api = fakeLeaseApi();
    const elector = new LeaderElector({ client: api, namespace: 'ns', name: 'l', identity: 'me', log });
    expect(await elector.acquire(new AbortController().signal)).toBe(true);
    api.landBehindTheCallersBack();
    await elector.release();
    expect(api.stored()?.spec.holderIdentity).toBeNull();
    expect(api.calls.map((c) => c.method).slice(-3)).toEqual(['PUT', 'GET', 'PUT']);
  });

  it('does not hand back a lease that another replica holds by the time it releases', async () => {
    const api = fakeLeaseApi();
    const elector = new LeaderElector({ client: api, namespace: 'ns', name: 'l', identity: 'me', log });
    expect(await elector.acquire(new AbortController().signal)).toBe(true);
    const taken = api.stored();
    if (taken) taken.spec = { ...taken.spec, holderIdentity: 'other' };
    api.landBehindTheCallersBack();
    await elector.release();
    expect(api.stored()?.spec.holderIdentity).toBe('other');
  });
});
