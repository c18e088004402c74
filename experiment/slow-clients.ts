/**
 * Slow clients (issue 11): each opens a new connection, then sends `POST /incr` with its request
 * headers trickled over `headerSeconds` (a slow mobile link, a client stalled by GC), waits for
 * the answer, and starts over, for the whole load. Staggered, so that some are always half-way
 * through their headers, also when a pod gets SIGTERM: the connection was accepted before, the
 * request arrives after. Each request is one increment if answered 2xx, so they count in the
 * totals like vegeta's.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadSecond } from './load-tally.ts';

interface SlowClientsPlan {
  port: number;
  clients: number;
  /** seconds over which each request's headers are sent */
  headerSeconds?: number;
  /** no new request after this wall-clock ms */
  until: number;
  /** per request, from connect to the end of the answer */
  timeoutSeconds?: number;
}

export interface SlowTotals {
  sent: number;
  ok: number;
  failed: number;
  failures: Record<string, number>;
  /** by the second (since `origin`) each request was started */
  perSecond: LoadSecond[];
}

export interface SlowClientsRun {
  snapshot(): SlowTotals;
  /** every client finished its last request */
  readonly done: Promise<SlowTotals>;
  stop(): void;
}

/** The request, cut into the pieces sent one by one: the request line first, the final CRLF last. */
export function requestPieces(port: number): string[] {
  return [
    'POST /incr HTTP/1.1\r\n',
    `Host: 127.0.0.1:${port}\r\n`,
    'User-Agent: lastcall-slow-client\r\n',
    'Content-Length: 0\r\n',
    'Connection: close\r\n',
    '\r\n',
  ];
}

export function startSlowClients(plan: SlowClientsPlan, origin: number): SlowClientsRun {
  const headerMs = (plan.headerSeconds ?? 3) * 1000;
  const timeoutMs = (plan.timeoutSeconds ?? 15) * 1000;
  const totals: SlowTotals = { sent: 0, ok: 0, failed: 0, failures: {}, perSecond: [] };
  let stopped = false;

  const record = (startedAt: number, outcome: { ok: true } | { ok: false; cause: string }) => {
    totals.sent++;
    const second = Math.max(0, Math.floor((startedAt - origin) / 1000));
    while (totals.perSecond.length <= second) totals.perSecond.push({ sent: 0, ok: 0, failed: 0 });
    const bucket = totals.perSecond[second] as LoadSecond;
    bucket.sent++;
    if (outcome.ok) {
      totals.ok++;
      bucket.ok++;
    } else {
      totals.failed++;
      bucket.failed++;
      totals.failures[outcome.cause] = (totals.failures[outcome.cause] ?? 0) + 1;
    }
  };

  const client = async (index: number) => {
    // staggered starts: at any moment some client is part-way through its headers
    await sleep((headerMs * index) / plan.clients);
    while (!stopped && Date.now() < plan.until) {
      const startedAt = Date.now();
      record(startedAt, await oneRequest(plan.port, headerMs, timeoutMs));
    }
  };
  const done = Promise.all(Array.from({ length: plan.clients }, (_, i) => client(i))).then(() => snapshot());
  const snapshot = (): SlowTotals => ({
    ...totals,
    failures: { ...totals.failures },
    perSecond: totals.perSecond.map((s) => ({ ...s })),
  });
  return {
    snapshot,
    done,
    stop() {
      stopped = true;
    },
  };
}

/** One slow request; the cause of a failure is short and countable, as for vegeta's. */
function oneRequest(
  port: number,
  headerMs: number,
  timeoutMs: number,
): Promise<{ ok: true } | { ok: false; cause: string }> {
  return new Promise((resolve) => {
    const pieces = requestPieces(port);
    const socket = net.connect({ host: '127.0.0.1', port });
    let answer = '';
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (result: { ok: true } | { ok: false; cause: string }) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      socket.destroy();
      resolve(result);
    };
    timers.push(setTimeout(() => finish({ ok: false, cause: 'slow client: timeout' }), timeoutMs));
    socket.setEncoding('latin1');
    socket.on('connect', () => {
      pieces.forEach((piece, i) => {
        const write = () => {
          if (!settled && !socket.destroyed) socket.write(piece);
        };
        if (i === 0) write();
        else timers.push(setTimeout(write, (headerMs * i) / (pieces.length - 1)));
      });
    });
    socket.on('data', (chunk: string) => {
      answer += chunk;
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer);
      if (status !== null) {
        const code = Number(status[1]);
        finish(code >= 200 && code < 300 ? { ok: true } : { ok: false, cause: `slow client: HTTP ${code}` });
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) =>
      finish({ ok: false, cause: `slow client: ${err.code ?? err.message}` }),
    );
    socket.on('close', () => finish({ ok: false, cause: 'slow client: closed without an answer' }));
  });
}
