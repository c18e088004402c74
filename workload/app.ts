import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { WorkloadMetrics } from './metrics.ts';

/** What the routes need; each piece is owned elsewhere (main.ts wires them). */
export interface AppDeps {
  counterKey: string;
  image: string;
  mode: 'graceful' | 'hard';
  /**
   * Promises one increment: 'full' when too many are pending already (nothing promised); throws
   * once the pending increments were abandoned.
   */
  promiseIncrement(): 'accepted' | 'full';
  readCounter(): Promise<number>;
  /** True when Redis answers a PING in time. */
  redisAnswers(): Promise<boolean>;
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
      metrics.refused.full++;
      res.writeHead(503, drain.closing ? FULL_HEADERS_CLOSE : FULL_HEADERS);
      res.end(FULL_BODY);
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
}

/** `/incr`, with or without a query string (the query is ignored, as express's router would). */
function isIncrPath(url: string | undefined): boolean {
  return url === '/incr' || (url?.startsWith('/incr?') ?? false);
}

const JSON_TYPE = 'application/json; charset=utf-8';
const INCR_BODY_LENGTH = String('{"id":""}'.length + 36);
const INCR_HEADERS = ['Content-Type', JSON_TYPE, 'Content-Length', INCR_BODY_LENGTH];
const INCR_HEADERS_CLOSE = [...INCR_HEADERS, 'Connection', 'close'];
const FULL_BODY = '{"error":"too many increments pending; try again later"}';
/** Seconds a refused client should wait: about one batch round under load, not a work delay. */
const FULL_RETRY_AFTER_SECONDS = '1';
const FULL_HEADERS = [
  'Content-Type',
  JSON_TYPE,
  'Content-Length',
  String(FULL_BODY.length),
  'Retry-After',
  FULL_RETRY_AFTER_SECONDS,
];
const FULL_HEADERS_CLOSE = [...FULL_HEADERS, 'Connection', 'close'];

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

  app.get('/readyz', async (_req, res) => {
    metrics.requests.readyz++;
    if (!drain.ready) {
      res.status(503).json({ ready: false, reason: `draining (${drain.phase})` });
      return;
    }
    if (!(await deps.redisAnswers())) {
      res.status(503).json({ ready: false, reason: 'Redis does not answer' });
      return;
    }
    res.json({ ready: true });
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
