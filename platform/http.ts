import express from 'express';
import type { ErrorRequestHandler } from 'express';
import { randomUUID } from 'node:crypto';
import type { Logger } from './logger.js';
import { requestScope } from './request-scope.js';

export const REQUEST_ID_HEADER = 'x-request-id';

/** Reuses a sane incoming request id (the gateway's) or makes one, and scopes it to the request. */
export const requestIdMiddleware: express.RequestHandler = (req, res, next) => {
  const incoming = req.header(REQUEST_ID_HEADER);
  const requestId = incoming && /^[\w-]{8,64}$/.test(incoming) ? incoming : randomUUID();
  res.setHeader(REQUEST_ID_HEADER, requestId);
  res.locals.requestId = requestId;
  requestScope.run({ requestId }, next);
};

export type ReadinessCheck = () => Promise<{ ready: boolean; details: Record<string, unknown> }>;

/** A readiness check that has not answered by now reports unavailable (a hung database must not hang the probe). */
const READINESS_TIMEOUT_MS = 1_500;

const withDeadline = (check: ReadinessCheck): ReturnType<ReadinessCheck> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ ready: false, details: { timedOut: true } }), READINESS_TIMEOUT_MS);
    check().then(
      (result) => resolve(result),
      () => resolve({ ready: false, details: {} }),
    ).finally(() => clearTimeout(timer));
  });

/**
 * /health/live and /health/ready. Readiness is the instance's own: can it serve (its primary
 * database, the gateway's supergraph and Redis)? Neighbours are details in the body, never a reason
 * for 503, or one sick service would take every healthy one out of rotation. `drain()` (called on
 * SIGTERM) makes readiness fail at once, so load balancers and Kubernetes stop routing here while
 * in-flight work finishes.
 */
export function createHealth(check: ReadinessCheck): { router: express.Router; drain(): void } {
  let draining = false;
  const router = express.Router();
  router.get('/health/live', (_req, res) => void res.json({ status: 'ok' }));
  router.get('/health/ready', async (_req, res) => {
    const { ready, details } = draining
      ? { ready: false, details: { draining: true } }
      : await withDeadline(check);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', ...details });
  });
  return {
    router,
    drain: () => {
      draining = true;
    },
  };
}

/** Body-parser failures (malformed JSON, too large) become GraphQL-shaped errors without internals. */
export function jsonErrorHandler(log: Logger): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    const status = typeof err?.status === 'number' ? err.status : 500;
    if (status === 413) {
      return void res.status(413).json({ errors: [{ message: 'Request body is too large.', extensions: { code: 'BAD_REQUEST' } }] });
    }
    if (status === 400) {
      return void res.status(400).json({ errors: [{ message: 'Request body is not valid JSON.', extensions: { code: 'BAD_REQUEST' } }] });
    }
    log.error({ err, requestId: res.locals.requestId }, 'unhandled HTTP error');
    res.status(500).json({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR', requestId: res.locals.requestId } }] });
  };
}
