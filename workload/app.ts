import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { RefusalReason, WorkloadMetrics } from './metrics.ts';
import type { Readiness } from './readiness.ts';

/** What the routes need; each piece is owned elsewhere (main.ts wires them). */
interface AppDeps {
  counterKey: string;
  image: string;
  mode: 'graceful' | 'hard';
  /**
   * Promises one increment: 'full' when too many are pending already (nothing promised); throws
   * once the pending increments were abandoned.
   */
  promiseIncrement(): 'accepted' | 'full';
  /**
   * False when an increment promised now could not be confirmed before the drain deadline (after
   * the stop signal only): its /incr gets a 503 instead of a promise that would be broken.
   */
  canFinishInTime(): boolean;
  readCounter(): Promise<number>;
  /** Whether the process can accept work now (readiness.ts); never waits for Redis. */
  readiness(): Readiness;
  drain: { readonly ready: boolean; readonly closing: boolean; readonly phase: string };
  metrics: WorkloadMetrics;
  logger: Logger;
}

/**
 * The server's request listener. GET|POST /incr, the one route under load, is answered before the
 * express stack (router, middleware, res.json): 23-26 µs of CPU per request instead of 39 µs,
 * measured on this machine (see docs/workload.md). Every other request goes to the express app.
 */
export function createRequestListener(deps: AppDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const app = createApp(deps);
  const { drain, metrics } = deps;
  return (req, res) => {
    if (!isIncrPath(req.url) || (req.method !== 'GET' && req.method !== 'POST')) {
      app(req, res);
      return;
    }
    if (!deps.canFinishInTime()) {
      // Draining, and this work would fall due after the deadline: no promise it cannot keep. The
      // client goes elsewhere (Connection: close: its next request takes a new route).
      refuse(res, 'deadline', true);
      return;
    }
    let promised: 'accepted' | 'full';
    try {
      promised = deps.promiseIncrement();
    } catch (error) {
      // Only after the drain deadline, moments before the exit.
      res.writeHead(503, { 'Content-Type': JSON_TYPE, Connection: 'close' });
      res.end(JSON.stringify({ error: errorMessage(error) }));
      return;
    }
    if (promised === 'full') {
      // Never a 200 it may not keep: the client (or its load balancer) tries again later or elsewhere.
      refuse(res, 'full', drain.closing);
      return;
    }
    const id = randomUUID();
    metrics.requests.incr++;
    // The answer comes before the work, as in the original: the Redis counter is the only truth.
    // Same rule as the express middleware: once the listener is closed, keep-alive clients must go.
    // The body has a fixed length (a UUID is 36 characters), so the headers are constants.
    res.writeHead(200, drain.closing ? INCR_HEADERS_CLOSE : INCR_HEADERS);
    res.end(`{"id":"${id}"}`);
  };

  function refuse(res: ServerResponse, reason: RefusalReason, close: boolean): void {
    metrics.refused[reason]++;
    const refusal = REFUSALS[reason];
    res.writeHead(503, close ? refusal.headersClose : refusal.headers);
    res.end(refusal.body);
  }
}

/** `/incr`, with or without a query string (the query is ignored, as express's router would). */
function isIncrPath(url: string | undefined): boolean {
  return url === '/incr' || (url?.startsWith('/incr?') ?? false);
}

const JSON_TYPE = 'application/json; charset=utf-8';
const INCR_BODY_LENGTH = String('{"id":""}'.length + 36);
const INCR_HEADERS = ['Content-Type', JSON_TYPE, 'Content-Length', INCR_BODY_LENGTH];
const INCR_HEADERS_CLOSE = [...INCR_HEADERS, 'Connection', 'close'];
/**
 * The 503 answers of /incr, with constant headers like the 200. Retry-After: 1 s, about one batch
 * round under load; a draining pod's client reconnects elsewhere at once anyway.
 */
const REFUSALS = Object.fromEntries(
  (
    [
      ['full', 'too many increments pending; try again later'],
      ['deadline', 'shutting down: this increment could not finish before the drain deadline; try again'],
    ] as const
  ).map(([reason, message]) => {
    const body = JSON.stringify({ error: message });
    const headers = ['Content-Type', JSON_TYPE, 'Content-Length', String(body.length), 'Retry-After', '1'];
    return [reason, { body, headers, headersClose: [...headers, 'Connection', 'close'] }];
  }),
) as Record<RefusalReason, { body: string; headers: string[]; headersClose: string[] }>;

function createApp(deps: AppDeps): Express {
  const { drain, metrics } = deps;
  const app = express();
  // No ETag hashing of every body, no framework banner: the /incr answers are unique and tiny.
  app.set('etag', false);
  app.set('x-powered-by', false);

  app.use((_req: Request, res: Response, next: NextFunction) => {
    // Once the listener is closed, keep-alive clients must reconnect elsewhere: their next
    // request would otherwise land on a pod that is about to exit.
    if (drain.closing) res.setHeader('Connection', 'close');
    next();
  });

  // GET|POST /incr never get here (createRequestListener answers them); a HEAD gets 405 and
  // promises nothing.
  app.head('/incr', (_req, res) => {
    res.status(405).setHeader('Allow', 'GET, POST').end();
  });

  app.get('/count', async (_req, res) => {
    metrics.requests.count++;
    try {
      res.json({ key: deps.counterKey, value: await deps.readCounter() });
    } catch (error) {
      res.status(503).json({ error: `reading ${deps.counterKey} from Redis failed: ${errorMessage(error)}` });
    }
  });

  app.get('/healthz', (_req, res) => {
    metrics.requests.healthz++;
    res.json({ status: 'alive', image: deps.image, mode: deps.mode, phase: drain.phase });
  });

  app.get('/readyz', (_req, res) => {
    metrics.requests.readyz++;
    const readiness = deps.readiness();
    res.status(readiness.ready ? 200 : 503).json(readiness);
  });

  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });

  app.use((_req: Request, res: Response) => {
    res
      .status(404)
      .json({ error: 'not found; routes: GET|POST /incr, GET /count, /healthz, /readyz, /metrics' });
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    deps.logger.error({ err: error }, 'request failed');
    if (!res.headersSent) res.status(500).json({ error: errorMessage(error) });
  });

  return app;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
