import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { parse as parseQueryString } from 'node:querystring';
import type express from 'express';
import { ErrorCode } from '../../platform/errors.js';
import { headerOf, requestIdOf, sendErrors } from '../../platform/http.js';
import { INVALID, readJsonBody } from '../../platform/json-body.js';
import type { Logger } from '../../platform/logger.js';
import { SPAN_OPENED, serverSpan } from '../../platform/observability/tracing.js';
import { requestScope } from '../../platform/request-scope.js';
import { GRAPHQL_PATH, sendError } from '../../platform/subgraph-http.js';
import type { Edge } from '../edge/index.js';
import { EDGE } from '../edge/http.js';
import type { EdgeRequest } from '../request.js';
import type { EdgeHits } from './edge-hits.js';

/**
 * The response cache's hits, answered on plain `node:http` in front of the gateway's express app.
 * On a hit, express itself (its router, prototype swaps, body-parser, etag) was the largest part of
 * the gateway's CPU after the socket writes (~15% in a profile of storefront hits). A request that
 * may be a hit (no user token, plain JSON or a GET with Apollo's preflight header, no streamed
 * answer asked for) is read here: request id, server span, CORS, the body with express.json's rules
 * (same caps, same errors). When this process holds a fresh entry for it, the edge admits it
 * (identity, safelist, request counts: the same object every transport calls) and the entry is the
 * answer (edge-hits.ts). Anything else goes on to express as it came, with its body already parsed
 * (body-parser skips a read request) and, when the edge has admitted it here, that decision (the
 * edge middleware then skips: every step counts once).
 */

export interface HitLaneDeps {
  /** Everything this lane does not answer: the gateway's express app. */
  rest: RequestListener;
  hits: EdgeHits;
  edge: Edge;
  /** The CORS middleware mounted on /graphql (the `cors` package runs on plain node:http too), if any. */
  cors: express.RequestHandler | undefined;
  body: { limitBytes: number; maxDepth: number };
  clientIp(req: IncomingMessage): string | undefined;
  log: Logger;
}

/** What express would hold in res.locals once its own middleware ran: the request id, the span, and the edge's decision. */
interface Locals {
  requestId: string;
  [SPAN_OPENED]: true;
  [EDGE]?: EdgeRequest;
}

const PLAIN_JSON = /^application\/json\s*(?:;\s*charset="?utf-8"?\s*)?$/i;

/** Could this request be a hit? Headers only, before anything is read; false sends it to express untouched. */
function mayHit(req: IncomingMessage, limitBytes: number): boolean {
  const h = req.headers;
  if (h.authorization !== undefined) return false;
  if (h.accept !== undefined && /multipart|event-stream|text\/html/i.test(h.accept)) return false;
  if (req.method === 'GET') return (req.url ?? '').includes('?') && (!!h['apollo-require-preflight'] || !!h['x-apollo-operation-name']);
  if (req.method !== 'POST' || !PLAIN_JSON.test(h['content-type'] ?? '')) return false;
  // A compressed body (express.json inflates it) or one over the cap (express answers 413): express's.
  if (h['content-encoding'] !== undefined && h['content-encoding'] !== 'identity') return false;
  return Number(h['content-length'] ?? 0) <= limitBytes;
}

/** The GraphQL parameters of a GET, as express 5's default ('simple') query parser reads them. */
function queryOf(req: IncomingMessage): Record<string, unknown> {
  const url = req.url ?? '';
  return parseQueryString(url.slice(url.indexOf('?') + 1));
}

/** The edge's steps, as its express middleware runs them (gateway/edge/http.ts); undefined once a refusal is answered. */
async function admit(
  deps: HitLaneDeps,
  req: IncomingMessage,
  res: ServerResponse,
  locals: Locals,
  params: Record<string, unknown>,
): Promise<EdgeRequest | undefined> {
  const caller = await deps.edge.admitCaller(
    { requestId: locals.requestId, ip: deps.clientIp(req), header: (name) => headerOf(req, name), authorization: undefined },
    'http',
  );
  if ('refusal' in caller) {
    sendErrors(res, caller.refusal.status, caller.refusal.error, caller.refusal.headers);
    return undefined;
  }
  locals[EDGE] = caller.edge;
  const { headers, refusal } = await deps.edge.admitOperation(caller.edge, params, 'http');
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  if (refusal) {
    sendErrors(res, refusal.status, refusal.error, refusal.headers);
    return undefined;
  }
  return caller.edge;
}

export function createHitLane(deps: HitLaneDeps): RequestListener {
  const inSpan = serverSpan('gateway');
  const cors = (req: IncomingMessage, res: ServerResponse) =>
    new Promise<void>((resolve) => deps.cors!(req as express.Request, res as express.Response, () => resolve()));

  /** The rest of the lane, inside the request's scope and span; hands over to express whenever it cannot answer. */
  const serve = async (req: IncomingMessage, res: ServerResponse, locals: Locals, started: number) => {
    if (deps.cors) await cors(req, res);
    let params: Record<string, unknown>;
    if (req.method === 'POST') {
      const body = await readJsonBody(req, res, { limitBytes: deps.body.limitBytes, maxDepth: deps.body.maxDepth });
      if (body === INVALID) return;
      (req as IncomingMessage & { body?: unknown }).body = body;
      if (!body || typeof body !== 'object' || Array.isArray(body)) {
        deps.rest(req, res);
        return;
      }
      params = body as Record<string, unknown>;
    } else params = queryOf(req);
    const candidate = deps.hits.candidate(req, params);
    if (!candidate) {
      deps.rest(req, res);
      return;
    }
    const admitted = await admit(deps, req, res, locals, params);
    if (!admitted) return;
    if (await deps.hits.answer(req, res, candidate, admitted, started)) return;
    deps.rest(req, res);
  };

  return (req, res) => {
    if (!mayHit(req, deps.body.limitBytes)) {
      deps.rest(req, res);
      return;
    }
    const started = performance.now();
    const requestId = requestIdOf(req, res);
    const locals: Locals = { requestId, [SPAN_OPENED]: true };
    (res as ServerResponse & { locals?: Locals }).locals = locals;
    requestScope.run({ requestId }, () =>
      inSpan(req, res, GRAPHQL_PATH, requestId, () => {
        serve(req, res, locals, started).catch((err: unknown) => {
          deps.log.error({ err, requestId }, 'unhandled error on /graphql');
          sendError(res, 500, 'Internal server error', ErrorCode.INTERNAL_SERVER_ERROR, { requestId });
        });
      }),
    );
  };
}
