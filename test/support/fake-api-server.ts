import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Credentials } from '../../kube/kubeconfig.ts';

/** One request as the fake API server received it. */
export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

export type Handler = (request: SeenRequest, response: ServerResponse) => void;

/**
 * A stand-in for the API server on loopback (plain HTTP) for the client's unit tests: each test
 * says how to answer, and every request is recorded. Not a Kubernetes: only what a test scripts.
 */
export class FakeApiServer {
  readonly requests: SeenRequest[] = [];
  handler: Handler = (_request, response) => response.writeHead(404).end();
  readonly #server: Server;
  readonly #open = new Set<ServerResponse>();

  private constructor() {
    this.#server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => {
        body += chunk;
      });
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://fake');
        const seen = {
          method: req.method ?? '',
          path: url.pathname,
          query: url.searchParams,
          headers: req.headers,
          body,
        };
        this.requests.push(seen);
        this.#open.add(res);
        res.on('close', () => this.#open.delete(res));
        this.handler(seen, res);
      });
    });
  }

  static async start(): Promise<FakeApiServer> {
    const fake = new FakeApiServer();
    await new Promise<void>((resolve) => fake.#server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** Credentials for KubeClient.connect, with a bearer token the tests can look for. */
  credentials(token = 'test-token'): Credentials {
    return { server: this.url, tls: {}, headers: async () => ({ authorization: `Bearer ${token}` }) };
  }

  /** Ends every response still open (watches, stalled requests). */
  endAll(): void {
    for (const response of this.#open) response.end();
  }

  async close(): Promise<void> {
    for (const response of this.#open) response.destroy();
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

export function json(response: ServerResponse, code: number, body: unknown): void {
  response.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** A `Status` answer, as the API server sends with every failure. */
export function status(response: ServerResponse, code: number, reason: string, message: string): void {
  json(response, code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code });
}
