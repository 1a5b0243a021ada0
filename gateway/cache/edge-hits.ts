import type { IncomingMessage, ServerResponse } from 'node:http';
import accepts from 'accepts';
import etag from 'etag';
import fresh from 'fresh';
import { HeaderMap } from '@apollo/server';
import type { GraphQLRequest } from '@apollo/server';
import type { RequestTelemetry } from '../../platform/observability/index.js';
import type { GraphQLError } from 'graphql';
import type { ConsistencyState } from '../consistency.js';
import { contextFromEdge } from '../context.js';
import { requestedOperationOf } from '../persisted-queries/requested-operation.js';
import { withVary, VARY } from '../persisted-queries/cache-policy.js';
import type { CostReport } from '../limits/cost-budget.js';
import type { ClientInfo, EdgeRequest, GatewayContext, OperationFacts } from '../request.js';
import type { FactsMemo, ResponseCacheDeps } from './response-cache.js';
import { responseKey } from './response-cache.js';
import type { CacheEntry, TaggedStore } from './tagged-store.js';

/** What an answer given before Apollo's pipeline must still do, as the pipeline's plugins would. */
export interface EdgeHitDeps extends ResponseCacheDeps {
  consistency: { fromRequest(req: IncomingMessage): ConsistencyState };
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

/** A request the response cache could answer, whose entry this process holds: its parts and the entry's key. */
export interface Candidate {
  params: Record<string, unknown>;
  operationName: string | null;
  contentType: string;
  key: string;
}

/** The parts of a request the pipeline would read, when every rule it applies before the cache is one this request cannot break. */
function partsOf(req: IncomingMessage, params: Record<string, unknown>) {
  const h = req.headers;
  // Signed in, asking for the plan, or a streamed form (multipart, SSE): the pipeline's, as the plugin's `eligible` rules.
  if (h.authorization !== undefined || h['apollo-query-plan-experimental'] !== undefined) return null;
  const accept = h.accept;
  if (accept && /multipart|event-stream/i.test(accept)) return null;
  const contentType = accept ? accepts(req).type(MEDIA_TYPES) : MEDIA_TYPES[0];
  if (typeof contentType !== 'string') return null;
  let variables: unknown = params.variables;
  if (req.method === 'GET') {
    // Apollo's CSRF prevention for a GET without a content type: one of its preflight headers, non-empty.
    if (!h['apollo-require-preflight'] && !h['x-apollo-operation-name']) return null;
    if (typeof variables === 'string') {
      try {
        variables = JSON.parse(variables);
      } catch {
        return null;
      }
    } else if (variables !== undefined) return null;
  } else if (req.method !== 'POST') return null;
  if (variables !== undefined && variables !== null && (typeof variables !== 'object' || Array.isArray(variables))) return null;
  const name = params.operationName;
  if (name !== undefined && name !== null && typeof name !== 'string') return null;
  const operation = requestedOperationOf(params);
  if (!operation.id || operation.protocolError) return null;
  return { operationId: operation.id, operationName: name ?? null, variables, contentType };
}

/** The cache-control Apollo's cache-control plugin writes for a hit: shared only for a GET, private for a partner. */
function cacheControlOf(req: IncomingMessage, client: ClientInfo, ttlMs: number): string {
  const maxAge = req.method === 'GET' ? Math.floor(ttlMs / 1000) : 0;
  return maxAge > 0 ? `max-age=${maxAge}, ${client.partnerId !== null ? 'private' : 'public'}` : 'no-store';
}

/** The body as Apollo writes it (`JSON.stringify(result) + '\n'`), with a partner's cost report where the pipeline adds it. */
function bodyOf(entry: CacheEntry, cost: CostReport | undefined): string {
  if (!cost?.budget) return entry.body + '\n';
  return `${entry.body.slice(0, -1)},"extensions":${JSON.stringify({ cost })}}\n`;
}

/**
 * Writes the answer. A GET gets the ETag and the 304 for a matching If-None-Match that express's
 * `res.send` gives the pipeline's answers (a weak ETag of the body); a POST is never revalidated:
 * its ETag (a hash of every answer) would only be cost.
 */
function write(req: IncomingMessage, res: ServerResponse, body: string): void {
  res.statusCode = 200;
  if (req.method === 'GET') {
    const tag = etag(body, { weak: true });
    res.setHeader('etag', tag);
    if (fresh(req.headers, { etag: tag })) {
      res.statusCode = 304;
      res.removeHeader('content-type');
      res.end();
      return;
    }
  }
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

/** A hit: the candidate, the facts to repeat for it, its entry, and the caller. */
interface Hit {
  candidate: Candidate;
  known: NonNullable<ReturnType<FactsMemo['get']>>;
  entry: CacheEntry;
  edge: EdgeRequest;
  context: GatewayContext;
}

export interface EdgeHits {
  /** The request's candidate when this process holds a fresh entry for it; else null (only the pipeline may answer it). */
  candidate(req: IncomingMessage, params: Record<string, unknown>): Candidate | null;
  /**
   * Answers the candidate for this caller, admitted by the edge; false (nothing written) when the
   * pipeline must answer: a caller it cannot serve here, facts not learnt yet, a spent budget.
   */
  answer(req: IncomingMessage, res: ServerResponse, candidate: Candidate, edge: EdgeRequest, started: number): Promise<boolean>;
}

/**
 * The response cache's hits at wire speed: an HTTP request the response cache can answer is
 * answered right after the edge (identity, safelist, request counts: gateway/edge/), from this
 * process's memory, when it holds the entry and knows it fresh (the tagged store's own rule), without
 * express or Apollo's pipeline (gateway/cache/hit-lane.ts). Everything else the pipeline would do
 * for such a request is either a pure function of the entry's key, so it passed when the entry was
 * stored (parse, validation, the operation's shape and cost ceiling), or was decided for this
 * caller's audience when the facts were learnt (the trusted-document rules: whose list an id is
 * looked up in), or is repeated here from the operation facts kept with the key: a partner's cost
 * budget, field usage, telemetry and the `request completed` line. Anything it cannot be sure of
 * goes on to the pipeline, whose plugin serves the entry from Redis and learns its facts for the next time.
 */
export function createEdgeHits(store: TaggedStore, facts: FactsMemo, deps: EdgeHitDeps): EdgeHits {
  const send = (req: IncomingMessage, res: ServerResponse, hit: Hit, cost: CostReport | undefined, started: number) => {
    deps.counted();
    res.setHeader('content-type', hit.candidate.contentType);
    res.setHeader('cache-control', cacheControlOf(req, hit.edge.client, hit.entry.ttlMs));
    res.setHeader('vary', HIT_VARY);
    write(req, res, bodyOf(hit.entry, cost));
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

  /** The entry and what to repeat for it, when this caller can be answered here; else null. */
  const hitOf = (req: IncomingMessage, candidate: Candidate, edge: EdgeRequest): Hit | null => {
    if (edge.identityError || edge.identity.userId !== null) return null;
    const known = facts.get(candidate.key, edge.client);
    const entry = known ? store.peek(candidate.key) : null;
    // A partner is charged the operation's cost: without it known here, the pipeline charges.
    if (!known || !entry || (edge.client.partnerId !== null && known.cost === undefined)) return null;
    const consistency = deps.consistency.fromRequest(req);
    // The caller reads its own writes: the pipeline sends it to the subgraphs.
    if (consistency.readsOwnWrites) return null;
    return { candidate, known, entry, edge, context: contextFromEdge(edge, consistency) };
  };

  return {
    candidate(req, params) {
      const parts = partsOf(req, params);
      if (!parts) return null;
      const key = responseKey(deps.supergraphHash(), parts.operationId, parts.operationName, parts.variables);
      if (!store.peek(key)) return null;
      return { params, operationName: parts.operationName, contentType: parts.contentType, key };
    },
    async answer(req, res, candidate, edge, started) {
      const hit = hitOf(req, candidate, edge);
      if (!hit) return false;
      if (edge.client.partnerId === null) {
        send(req, res, hit, undefined, started);
        return true;
      }
      // A spent budget: the pipeline charges again and answers the refusal as it always does.
      const { report, refusal } = await deps.chargeCost(edge.client, hit.known.cost!);
      if (refusal) return false;
      send(req, res, hit, report, started);
      return true;
    },
  };
}

/** What telemetry reads of the request: the operation's text or id (is it listed?) and the caller's traceparent. */
function requestOf(req: IncomingMessage, params: Record<string, unknown>): GraphQLRequest {
  const headers = new HeaderMap();
  const traceparent = req.headers.traceparent;
  if (typeof traceparent === 'string') headers.set('traceparent', traceparent);
  return {
    query: typeof params.query === 'string' ? params.query : undefined,
    extensions: extensionsOf(params),
    http: { method: req.method ?? 'GET', headers, search: '', body: undefined },
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
