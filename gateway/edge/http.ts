import type express from 'express';
import { sendErrors } from '../../platform/http.js';
import { acceptedMultipartSpec } from '../http/multipart.js';
import { requestedTransport } from '../subscriptions/http-framing.js';
import type { EdgeRequest } from '../request.js';
import type { Edge, EdgeTransport } from './index.js';

/** The key of res.locals the edge writes once; read it through edgeOf. */
export const EDGE = 'edge';

/** The edge's decision for this response's request; the edge middleware runs before every reader. */
export function edgeOf(res: express.Response): EdgeRequest {
  const edge = res.locals[EDGE] as EdgeRequest | undefined;
  if (!edge) throw new Error('edgeOf: the edge middleware did not run for this request');
  return edge;
}

/** Which transport an HTTP request asked for: streamed (multipart, SSE) or a plain answer; for metrics only. */
function transportOf(req: express.Request): EdgeTransport {
  const accept = req.header('accept');
  return requestedTransport(accept, acceptedMultipartSpec(accept)) ?? 'http';
}

/**
 * The edge on /graphql, after the body is parsed: every step of the edge (gateway/edge/index.ts),
 * in its order, for every HTTP request, so a subscription streamed over multipart or SSE meets the
 * same steps as a query. A refusal is answered here, before Apollo parses or plans anything.
 */
export function createEdgeMiddleware(edge: Edge): express.RequestHandler {
  return async (req, res, next) => {
    // Admitted already by the cache-hit lane in front of express (gateway/cache/hit-lane.ts): the steps count once.
    if (res.locals[EDGE]) {
      next();
      return;
    }
    const transport = transportOf(req);
    const caller = await edge.admitCaller(
      {
        requestId: res.locals.requestId as string,
        ip: req.ip,
        header: (name) => req.header(name),
        authorization: req.header('authorization'),
      },
      transport,
    );
    if ('refusal' in caller) {
      sendErrors(res, caller.refusal.status, caller.refusal.error, caller.refusal.headers);
      return;
    }
    res.locals[EDGE] = caller.edge;
    const { headers, refusal } = await edge.admitOperation(caller.edge, req.method === 'GET' ? req.query : req.body, transport);
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    if (refusal) {
      sendErrors(res, refusal.status, refusal.error, refusal.headers);
      return;
    }
    next();
  };
}
