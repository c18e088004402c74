// A leader whose Lease renewal stalls (its lease requests hang, as on a half-dead connection, while
// the rest of its traffic flows) must stop writing at its renew deadline, before a standby may take
// over, and the standby then takes over (issue 10, point 5). The leader talks to the real API server
// through a small HTTP proxy in this test: the proxy authenticates upstream with the test's admin
// credentials, holds the leader's lease requests while told to, and records every request the leader
// sends (method, path, when), so "no write from the old leader after its renew deadline" is read
// from what actually left the old leader, not from its own logs.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { type Credentials, kubeconfigCredentials } from '../../kube/kubeconfig.ts';
import { waitFor } from '../../kube/poll.ts';
import { coreTypes, resourcePath } from '../../kube/resources.ts';
import {
  condition,
  counterService,
  counterServices,
  create,
  get,
  OperatorProcess,
} from './operator-harness.ts';
import { useOperatorTestbed } from './operator-testbed.ts';

let proxy: StallingProxy;
const replicas: OperatorProcess[] = [];
const leaseName = `lastcall-stall-${process.pid}`;
const RENEW_DEADLINE_MS = 4_000;
// The replicas are the tests' own: they talk through the proxy, with short lease timings.
const testbed = useOperatorTestbed({
  namespacePrefix: 'op-stall',
  operator: false,
  prepare: async ({ kubeconfig }) => {
    proxy = new StallingProxy(kubeconfigCredentials(kubeconfig));
    await proxy.listen();
  },
  cleanUp: async ({ client }) => {
    await Promise.all(replicas.map((r) => r.stop('SIGKILL')));
    await client
      .request('DELETE', resourcePath(coreTypes.lease, { namespace: 'default', name: leaseName }))
      .catch(() => undefined);
    await proxy?.close();
  },
});

interface Seen {
  method: string;
  path: string;
  /** performance.now() when the proxy received the request (before forwarding it). */
  at: number;
  /** When the answer's head came back (undefined: no answer, e.g. held and abandoned). */
  answeredAt?: number;
  status?: number;
  /** The client gave up on it before the answer ended. */
  abandoned?: boolean;
}

/**
 * Plain HTTP in front of the API server, as `kubectl proxy` is: the operator behind it connects
 * without credentials, the proxy adds the admin client certificate upstream. While `stallLeases`
 * is set, requests for Leases are held (never forwarded) until the client gives up on them.
 */
class StallingProxy {
  readonly seen: Seen[] = [];
  stallLeases = false;
  port = 0;
  readonly #server: Server;
  readonly #agent: Agent;
  readonly #upstream: URL;
  readonly #credentials: Credentials;

  constructor(credentials: Credentials) {
    this.#credentials = credentials;
    this.#upstream = new URL(credentials.server);
    this.#agent = new Agent({ keepAlive: true, ...credentials.tls });
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
    this.#agent.destroy();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const entry: Seen = { method: req.method ?? 'GET', path: req.url ?? '/', at: performance.now() };
    this.seen.push(entry);
    res.once('close', () => {
      if (!res.writableFinished) entry.abandoned = true;
    });
    if (this.stallLeases && /\/leases(\/|\?|$)/.test(entry.path)) {
      // Held: the request never reaches the API server; only the client can end it.
      req.resume();
      return;
    }
    const headers = { ...req.headers, ...(await this.#credentials.headers()) };
    delete headers.host;
    const upstream = httpsRequest(
      {
        host: this.#upstream.hostname,
        port: this.#upstream.port,
        method: req.method,
        path: req.url,
        headers,
        agent: this.#agent,
      },
      (answer) => {
        entry.answeredAt = performance.now();
        entry.status = answer.statusCode;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.once('error', () => res.destroy());
    res.once('close', () => upstream.destroy());
    req.pipe(upstream);
  }
}

function startReplica(identity: string, viaProxy: boolean): Promise<OperatorProcess> {
  let config = testbed.kubeconfig;
  if (viaProxy) {
    config = join(tmpdir(), `lastcall-stall-${randomBytes(4).toString('hex')}.kubeconfig`);
    writeFileSync(
      config,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: proxy, cluster: {server: "http://127.0.0.1:${proxy.port}"}}]`,
        'users: [{name: none, user: {}}]',
        'contexts: [{name: proxy, context: {cluster: proxy, user: none}}]',
        'current-context: proxy',
        '',
      ].join('\n'),
    );
  }
  return OperatorProcess.watching(config, testbed.namespace, leaseName, [
    '--identity',
    identity,
    '--lease-duration',
    '6',
    '--renew-deadline',
    String(RENEW_DEADLINE_MS / 1000),
    '--retry-period',
    '1',
  ]).then((replica) => {
    replicas.push(replica);
    return replica;
  });
}

const isLease = (s: Seen) => /\/leases(\/|\?|$)/.test(s.path);
const isWrite = (s: Seen) => s.method !== 'GET';

describe('leader election with a stalled lease renewal', () => {
  test('the old leader writes nothing after its renew deadline; the standby takes over', async () => {
    const old = await startReplica('stalled-a', true);
    await waitFor('a leads', async () => (await old.metric('lastcall_leader')) === 1);
    const standby = await startReplica('standby-b', false);
    await waitFor('b ready', async () => (await standby.probe('/readyz')) === 200);
    expect(await standby.metric('lastcall_leader')).toBe(0);

    await create(testbed.client, counterServices, counterService('before', testbed.namespace));
    await waitFor('before reconciled by a', () =>
      get(testbed.client, coreTypes.deployment, testbed.namespace, 'before'),
    );
    expect(proxy.seen.some((s) => isWrite(s) && !isLease(s))).toBe(true);

    proxy.stallLeases = true;
    const stalledAt = performance.now();
    // The leader's last renewal that got through: its leadership lasts at most the renew deadline
    // from when that attempt started, which was before the proxy saw the answer.
    const lastRenewal = proxy.seen
      .filter(
        (s) =>
          isLease(s) &&
          (s.method === 'PUT' || s.method === 'POST') &&
          (s.status ?? 0) >= 200 &&
          (s.status ?? 0) < 300 &&
          (s.answeredAt ?? 0) <= stalledAt,
      )
      .at(-1);
    expect(lastRenewal).toBeDefined();
    // A renewal answered after stallLeases was set cannot exist (held requests get no answer).
    const deadline = (lastRenewal?.answeredAt ?? 0) + RENEW_DEADLINE_MS;

    // Work for the old leader after its deadline: its watches still flow through the proxy, so an
    // old leader that still believed it led would reconcile (write) these.
    await waitFor('the old leader past its renew deadline', () => performance.now() > deadline, {
      timeoutMs: RENEW_DEADLINE_MS + 10_000,
    });
    const late = ['after-1', 'after-2', 'after-3'];
    for (const name of late)
      await create(testbed.client, counterServices, counterService(name, testbed.namespace));

    await waitFor('b leads', async () => (await standby.metric('lastcall_leader')) === 1, {
      timeoutMs: 60_000,
    });
    for (const name of late) {
      await waitFor(
        `${name} reconciled by b`,
        async () =>
          condition(await get(testbed.client, counterServices, testbed.namespace, name), 'BudgetAccepted'),
        { timeoutMs: 60_000 },
      );
    }
    // Nothing the old leader wrote reached the proxy after its renew deadline. 250 ms of tolerance
    // for the proxy's own event loop: the deadline above is already later than the operator's (it
    // counts from the answer, the operator from the start of the attempt).
    const afterDeadline = proxy.seen.filter((s) => isWrite(s) && s.at > deadline + 250);
    expect(afterDeadline.map((s) => `${s.method} ${s.path} at +${Math.round(s.at - deadline)} ms`)).toEqual(
      [],
    );
    // It gave up by itself (exit code 1: lost leadership), without waiting for a socket timeout.
    expect(await waitFor('a exited', () => old.child.exitCode ?? undefined, { timeoutMs: 30_000 })).toBe(1);
    expect(old.logs.some((l) => /leadership lost/.test(String(l.msg)))).toBe(true);
    // The held lease requests ended on the old leader's side (aborted at its deadline, or at its exit).
    const held = proxy.seen.filter((s) => isLease(s) && s.at >= stalledAt);
    expect(held.length).toBeGreaterThan(0);
    expect(held.every((s) => s.abandoned)).toBe(true);
  });
});
