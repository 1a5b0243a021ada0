import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import type { ErrorRequestHandler } from 'express';
import { randomUUID } from 'node:crypto';
import { GraphQLError } from 'graphql';
import type { GraphQLFormattedError } from 'graphql';
import { ErrorCode } from './errors.js';
import type { Logger } from './logger.js';
import { BODY_ERRORS, jsonDepthExceeds } from './json-body.js';
import { requestScope } from './request-scope.js';

export const REQUEST_ID_HEADER = 'x-request-id';

/** Reuses a sane incoming request id (the gateway's) or makes one, and scopes it to the request. */
export const requestIdMiddleware: express.RequestHandler = (req, res, next) => {
  // A handler in front of express (the gateway's cache-hit lane) may have assigned it already.
  const requestId = (res.locals.requestId as string | undefined) ?? requestIdOf(req, res);
  res.locals.requestId = requestId;
  requestScope.run({ requestId }, next);
};

/** A request header as one string (what express's `req.header` gives for every header but set-cookie). */
export function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The request's id: a sane incoming one (the gateway's), else a new one; echoed on the response. */
export function requestIdOf(req: IncomingMessage, res: ServerResponse): string {
  const incoming = req.headers[REQUEST_ID_HEADER];
  const requestId = typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
  res.setHeader(REQUEST_ID_HEADER, requestId);
  return requestId;
}

const SANE_REQUEST_ID = /^[\w-]{8,64}$/;

export type ReadinessCheck = () => Promise<{ ready: boolean; details: Record<string, unknown> }>;

/** A readiness check that has not answered by now reports unavailable (a hung database must not hang the probe). */
const READINESS_TIMEOUT_MS = 1_500;

const withDeadline = (check: ReadinessCheck): ReturnType<ReadinessCheck> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ ready: false, details: { timedOut: true } }), READINESS_TIMEOUT_MS);
    check()
      .then(
        (result) => resolve(result),
        () => resolve({ ready: false, details: {} }),
      )
      .finally(() => clearTimeout(timer));
  });

/**
 * /health/live and /health/ready. Readiness is the instance's own: can it serve (its primary
 * database, the gateway's supergraph; Redis is only a detail: every feature has a fallback)? Neighbours are details in the body, never a reason
 * for 503, or one sick service would take every healthy one out of rotation. `drain()` (called on
 * SIGTERM) makes readiness fail at once, so load balancers and Kubernetes stop routing here while
 * in-flight work finishes.
 */
export function createHealth(check: ReadinessCheck): { router: express.Router; drain(): void } {
  let draining = false;
  const router = express.Router();
  router.get('/health/live', (_req, res) => void res.json({ status: 'ok' }));
  router.get('/health/ready', async (_req, res) => {
    const { ready, details } = draining ? { ready: false, details: { draining: true } } : await withDeadline(check);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', ...details });
  });
  return {
    router,
    drain: () => {
      draining = true;
    },
  };
}

/**
 * The one way an HTTP handler answers with GraphQL errors before (or instead of) Apollo: the
 * `{errors: [...]}` body of the GraphQL-over-HTTP spec, each error serialized as GraphQLError
 * does (message, extensions.code, nothing else). Refusals are never cached.
 */
export function sendErrors(
  res: ServerResponse,
  status: number,
  errors: ErrorBody | ErrorBody[],
  headers: Record<string, string> = {},
): void {
  // A stream already under way (multipart, SSE) cannot change its status: just end it.
  if (res.headersSent) return void res.end();
  res.statusCode = status;
  res.setHeader('cache-control', 'no-store');
  res.setHeader('content-type', 'application/json; charset=utf-8');
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  const body = (Array.isArray(errors) ? errors : [errors]).map((e) => (e instanceof GraphQLError ? e.toJSON() : e));
  res.end(JSON.stringify({ errors: body }));
}

/** A GraphQLError, or one already in its serialized shape (e.g. a refusal shared with the WebSocket). */
export type ErrorBody = GraphQLError | GraphQLFormattedError;

/** body-parser's error type for a body refused by jsonNestingCheck. */
const TOO_DEEP = 'entity.too.deep';

/**
 * A body-parser `verify` hook refusing a JSON body nested deeper than `maxDepth`, read on the raw
 * bytes in one pass before JSON.parse: a value 100,000 levels deep parses fine (V8's parser is
 * iterative) but overflows the stack of the recursive walks over variables that follow (graphql-js
 * input coercion), which surfaced as INTERNAL_SERVER_ERROR. Brackets inside strings do not count.
 */
export function jsonNestingCheck(maxDepth: number) {
  return (_req: unknown, _res: unknown, buf: Buffer): void => {
    if (jsonDepthExceeds(buf, maxDepth))
      throw Object.assign(new Error(`JSON nested deeper than ${maxDepth}`), { status: 400, type: TOO_DEEP, maxDepth });
  };
}

/** Body-parser failures (malformed JSON, too large, too deep) become GraphQL-shaped errors without internals. */
export function jsonErrorHandler(log: Logger): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    const raw = (err as { status?: unknown } | null | undefined)?.status;
    const status = typeof raw === 'number' ? raw : 500;
    if (status === 413) {
      sendErrors(res, 413, BODY_ERRORS.tooLarge());
      return;
    }
    if (status === 400 && (err as { type?: unknown }).type === TOO_DEEP) {
      sendErrors(res, 400, BODY_ERRORS.tooDeep((err as { maxDepth: number }).maxDepth));
      return;
    }
    if (status === 400) {
      sendErrors(res, 400, BODY_ERRORS.notJson());
      return;
    }
    log.error({ err, requestId: res.locals.requestId }, 'unhandled HTTP error');
    sendErrors(
      res,
      500,
      new GraphQLError('Internal server error', { extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, requestId: res.locals.requestId } }),
    );
  };
}

/**
 * The HTTP shell every service (the gateway and each subgraph) is built on, in this order: request
 * id, the observability middleware (tracing), /health/live and /health/ready. The service then
 * mounts its own routes on `app` and calls `finish()`, which appends the JSON error handler last.
 */
export function createServiceApp(opts: { middleware: express.RequestHandler[]; readiness: ReadinessCheck; log: Logger }) {
  const app = express();
  app.disable('x-powered-by');
  app.use(requestIdMiddleware);
  app.use(...opts.middleware);
  const health = createHealth(opts.readiness);
  app.use(health.router);
  return { app, health, finish: () => void app.use(jsonErrorHandler(opts.log)) };
}
