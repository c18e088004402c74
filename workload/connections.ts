/**
 * Which keep-alive connections the drain may close without losing a request.
 *
 * HTTP/1.1 gives a server one race-free way to end a keep-alive connection: `Connection: close`
 * on a response. Closing an idle socket races the client's next request: if that request is
 * already on the wire (or in a proxy between), the client reads EOF or ECONNRESET, and no client
 * re-sends a POST (Go's net/http re-sends only idempotent requests). Node's `server.close()` and
 * `closeIdleConnections()` close every socket between two requests, so a client sending 25 POSTs
 * a second on one connection lost about one request per drain in fifty (CI, 3 s endpoint delay).
 *
 * So the drain answers connections in use with `Connection: close` (app.ts) and closes only those
 * idle for at least IDLE_CLOSE_MS (1 s by default): a client that has not used a connection for that long
 * is not sending on it (Go, Node and curl pick the most recently used idle connection first), and
 * a connection the client does use gets its `Connection: close` within that time. Any byte received
 * counts as use (`socket.bytesRead`), so a client sending its headers slowly is not cut off.
 */
import type { Socket } from 'node:net';

interface Usage {
  /** Requests received on the socket whose responses have not finished (pipelining: more than 1). */
  inFlight: number;
  /** When the last response finished, the socket connected or bytes last arrived (tracker's clock). */
  idleSince: number;
  /** `socket.bytesRead` at `idleSince`: more means a request has begun to arrive. */
  bytesRead: number;
}

/** What the tracker uses of a socket (net.Socket has it; unit tests pass less). */
export type TrackedSocket = Pick<Socket, 'bytesRead' | 'destroy' | 'once'>;

export class ConnectionTracker {
  readonly #sockets = new Map<TrackedSocket, Usage>();
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** A new connection: idle from now until its first request. */
  connected(socket: TrackedSocket): void {
    this.#sockets.set(socket, { inFlight: 0, idleSince: this.#now(), bytesRead: socket.bytesRead });
    socket.once('close', () => this.#sockets.delete(socket));
  }

  requestStarted(socket: TrackedSocket): void {
    const usage = this.#sockets.get(socket);
    if (usage !== undefined) usage.inFlight += 1;
  }

  requestEnded(socket: TrackedSocket): void {
    const usage = this.#sockets.get(socket);
    if (usage === undefined) return;
    usage.inFlight = Math.max(0, usage.inFlight - 1);
    if (usage.inFlight === 0) {
      usage.idleSince = this.#now();
      usage.bytesRead = socket.bytesRead;
    }
  }

  /** Destroys the sockets with no request in flight, idle for at least `minIdleMs`; returns how many. */
  closeIdle(minIdleMs: number): number {
    const now = this.#now();
    let closed = 0;
    for (const [socket, usage] of this.#sockets) {
      if (usage.inFlight > 0) continue;
      if (socket.bytesRead !== usage.bytesRead) {
        // A request has begun to arrive (the 'request' event comes once its headers are complete).
        usage.idleSince = now;
        usage.bytesRead = socket.bytesRead;
        continue;
      }
      if (now - usage.idleSince >= minIdleMs) {
        this.#sockets.delete(socket);
        socket.destroy();
        closed += 1;
      }
    }
    return closed;
  }

  get size(): number {
    return this.#sockets.size;
  }
}
