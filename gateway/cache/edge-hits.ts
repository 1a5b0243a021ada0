import type express from 'express';
import { HeaderMap } from '@apollo/server';
import type { GraphQLRequest } from '@apollo/server';
import type { RequestTelemetry } from '../../platform/observability/index.js';
import type { GraphQLError } from 'graphql';
import type { ConsistencyState } from '../consistency.js';
import { contextFromEdge } from '../context.js';
import { edgeOf } from '../edge/http.js';
import { requestedOperationOf } from '../persisted-queries/requested-operation.js';
import { withVary, VARY } from '../persisted-queries/cache-policy.js';
import type { CostReport } from '../limits/cost-budget.js';
import type { ClientInfo, GatewayContext, OperationFacts } from '../request.js';
import type { FactsMemo, ResponseCacheDeps } from './response-cache.js';
import { responseKey } from './response-cache.js';
import type { CacheEntry, TaggedStore } from './tagged-store.js';

/** What an answer given before Apollo's pipeline must still do, as the pipeline's plugins would. */
export interface EdgeHitDeps extends ResponseCacheDeps {
  consistency: { fromRequest(req: express.Request): ConsistencyState };
  /** Telemetry's record of one finished operation (platform/observability/request-plugin.ts). */
  telemetry: RequestTelemetry<GatewayContext>['record'];
  /** Field usage, recorded for this caller (gateway/usage/). */
  recordUsage(client: ClientInfo, usage: NonNullable<OperationFacts['usage']>): void;
  /** A partner's cost budget, charged as the pipeline charges it (gateway/limits/cost-budget.ts). */
  chargeCost(client: ClientInfo, estimated: number): Promise<{ report: CostReport; refusal?: GraphQLError }>;
  /** A hit counted. */
  counted(): void;
}

/** Apollo Server's single-result media types, in its order of preference (chooseContentTypeForSingleResultResponse). */
const MEDIA_TYPES = [
  'application/json; charset=utf-8',
  'application/graphql-response+json; charset=utf-8',
  'application/json; callbackSpec=1.0; charset=utf-8',
];

/** The Vary the pipeline's cache-policy plugin writes (cache-policy.ts), made once. */
const HIT_VARY = withVary(undefined, VARY);

/** A request that could be one of the response cache's: its parts, or null when only the pipeline may answer it. */
interface Candidate {
  params: Record<string, unknown>;
  operationId: string;
  operationName: string | null;
  variables: unknown;
  contentType: string;
}

/** The parts of a request the pipeline would read, when every rule it applies before the cache is one this request cannot break. */
function candidateOf(req: express.Request): Candidate | null {
  const h = req.headers;
  // Signed in, asking for the plan, or a streamed form (multipart, SSE): the pipeline's, as the plugin's `eligible` rules.
  if (h.authorization !== undefined || h['apollo-query-plan-experimental'] !== undefined) return null;
  const accept = h.accept;
  if (accept && /multipart|event-stream/i.test(accept)) return null;
  const contentType = accept ? req.accepts(MEDIA_TYPES) : MEDIA_TYPES[0];
  if (typeof contentType !== 'string') return null;
  let params: Record<string, unknown>;
  let variables: unknown;
  if (req.method === 'POST') {
    if (!req.body || typeof req.body !== 'object' || Array.isArray(req.body)) return null;
    params = req.body as Record<string, unknown>;
    variables = params.variables;
  } else if (req.method === 'GET') {
    // Apollo's CSRF prevention for a GET without a content type: one of its preflight headers, non-empty.
    if (!h['apollo-require-preflight'] && !h['x-apollo-operation-name']) return null;
    params = req.query;
    if (typeof params.variables === 'string') {
      try {
        variables = JSON.parse(params.variables);
      } catch {
        return null;
      }
    } else if (params.variables !== undefined) return null;
  } else return null;
  if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) return null;
  const name = params.operationName;
  if (name !== undefined && name !== null && typeof name !== 'string') return null;
  const operation = requestedOperationOf(params);
  if (!operation.id || operation.protocolError) return null;
  return { params, operationId: operation.id, operationName: name ?? null, variables, contentType };
}

/** The cache-control Apollo's cache-control plugin writes for a hit: shared only for a GET, private for a partner. */
function cacheControlOf(req: express.Request, client: ClientInfo, ttlMs: number): string {
  const maxAge = req.method === 'GET' ? Math.floor(ttlMs / 1000) : 0;
  return maxAge > 0 ? `max-age=${maxAge}, ${client.partnerId !== null ? 'private' : 'public'}` : 'no-store';
}

/** The body as Apollo writes it (`JSON.stringify(result) + '\n'`), with a partner's cost report where the pipeline adds it. */
function bodyOf(entry: CacheEntry, cost: CostReport | undefined): string {
  if (!cost?.budget) return entry.body + '\n';
  return `${entry.body.slice(0, -1)},"extensions":${JSON.stringify({ cost })}}\n`;
}

/**
 * The response cache's hits at wire speed: an HTTP request the response cache can answer is
 * answered right after the edge (identity, safelist, request counts: gateway/edge/), from this
 * process's memory, when it holds the entry and knows it fresh (the tagged store's own rule), without
 * Apollo's pipeline. Everything else the pipeline would do for such a request is either a pure
 * function of the entry's key, so it passed when the entry was stored (parse, validation, the
 * operation's shape and cost ceiling), or was decided for this caller's audience when the facts
 * were learnt (the trusted-document rules: whose list an id is looked up in), or is repeated here from the
 * operation facts kept with the key: a partner's cost budget, field usage, telemetry and the
 * `request completed` line. Anything it cannot be sure of goes on to the pipeline, whose plugin
 * serves the entry from Redis and learns its facts for the next time.
 */
export function createEdgeHits(store: TaggedStore, facts: FactsMemo, deps: EdgeHitDeps): express.RequestHandler {
  /** The entry and what to repeat for it, when this request can be answered here; else null (the pipeline answers). */
  const hitOf = (req: express.Request, res: express.Response) => {
    const candidate = candidateOf(req);
    if (!candidate) return null;
    const edge = edgeOf(res);
    if (edge.identityError || edge.identity.userId !== null) return null;
    const key = responseKey(deps.supergraphHash(), candidate.operationId, candidate.operationName, candidate.variables);
    const known = facts.get(key, edge.client);
    const entry = known ? store.peek(key) : null;
    // A partner is charged the operation's cost: without it known here, the pipeline charges.
    if (!known || !entry || (edge.client.partnerId !== null && known.cost === undefined)) return null;
    const consistency = deps.consistency.fromRequest(req);
    // The caller reads its own writes: the pipeline sends it to the subgraphs.
    if (consistency.readsOwnWrites) return null;
    return { candidate, known, entry, edge, context: contextFromEdge(edge, consistency) };
  };
  type Hit = NonNullable<ReturnType<typeof hitOf>>;

  const send = (req: express.Request, res: express.Response, hit: Hit, cost: CostReport | undefined, started: number) => {
    deps.counted();
    res.setHeader('content-type', hit.candidate.contentType);
    res.setHeader('cache-control', cacheControlOf(req, hit.edge.client, hit.entry.ttlMs));
    res.setHeader('vary', HIT_VARY);
    const body = bodyOf(hit.entry, cost);
    // A GET through express's send: its ETag and a 304 for a matching If-None-Match, as the pipeline's
    // answers get. A POST is never revalidated: its ETag (a hash of every answer) is only cost.
    if (req.method === 'GET') res.status(200).send(body);
    else {
      res.statusCode = 200;
      res.setHeader('content-length', Buffer.byteLength(body));
      res.end(body);
    }
    if (hit.known.usage) deps.recordUsage(hit.edge.client, hit.known.usage);
    deps.telemetry({
      context: hit.context,
      request: requestOf(req, hit.candidate.params),
      operationName: hit.known.operationName,
      resolved: true,
      status: 200,
      errorCodes: [],
      seconds: (performance.now() - started) / 1000,
    });
  };

  return (req, res, next) => {
    const started = performance.now();
    const hit = hitOf(req, res);
    if (!hit) {
      next();
      return;
    }
    if (hit.edge.client.partnerId === null) {
      send(req, res, hit, undefined, started);
      return;
    }
    // A spent budget: the pipeline charges again and answers the refusal as it always does.
    deps.chargeCost(hit.edge.client, hit.known.cost!).then(
      ({ report, refusal }) => {
        if (refusal) next();
        else send(req, res, hit, report, started);
      },
      (err: unknown) => {
        next(err);
      },
    );
  };
}

/** What telemetry reads of the request: the operation's text or id (is it listed?) and the caller's traceparent. */
function requestOf(req: express.Request, params: Record<string, unknown>): GraphQLRequest {
  const headers = new HeaderMap();
  const traceparent = req.header('traceparent');
  if (traceparent) headers.set('traceparent', traceparent);
  return {
    query: typeof params.query === 'string' ? params.query : undefined,
    extensions: extensionsOf(params),
    http: { method: req.method, headers, search: '', body: undefined },
  };
}

/** The request's extensions as Apollo reads them (a GET sends them as JSON text). */
function extensionsOf(params: Record<string, unknown>): Record<string, unknown> | undefined {
  const ext = params.extensions;
  if (typeof ext !== 'string') return ext as Record<string, unknown> | undefined;
  try {
    return JSON.parse(ext) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
