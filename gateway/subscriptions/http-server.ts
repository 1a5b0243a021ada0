import type { ServerResponse } from 'node:http';
import type express from 'express';
import { GraphQLError, Kind, OperationTypeNode, getOperationAST, parse } from 'graphql';
import type { DocumentNode, ExecutionResult, GraphQLSchema } from 'graphql';
import { ErrorCode, appError, serviceUnavailable, unauthenticated } from '../../platform/errors.js';
import { sendErrors } from '../../platform/http.js';
import type { Edge } from '../edge/index.js';
import { edgeOf } from '../edge/http.js';
import type { ClientInfo, EdgeRequest } from '../request.js';
import { acceptedMultipartSpec } from '../http/multipart.js';
import type { Subscriber } from './event-stream.js';
import { multipartFraming, requestedTransport, sseFraming } from './http-framing.js';
import type { HttpTransport, SubscriptionFraming } from './http-framing.js';
import type { SharedCaps } from './shared-caps.js';
import { isEventStream } from './subscribe.js';
import type { SubscribeRequest, SubscriptionCore } from './subscribe.js';

export interface HttpSubscriptionLimits {
  /** Open HTTP subscription streams on this gateway, in all (503 beyond). */
  maxTotal: number;
  /** Per client address on this gateway; per signed-in user and per partner key across gateways (429 beyond). */
  maxPerIp: number;
  maxPerUser: number;
  maxPerPartner: number;
  /** A heartbeat part this often (ms), so proxies and mobile networks keep a quiet stream open. */
  heartbeatMs: number;
}

/** A subscription in an ordinary request/response exchange: the gateway never answers one that way. */
const NOT_ACCEPTABLE = new GraphQLError(
  'A subscription over HTTP needs Accept: multipart/mixed;subscriptionSpec="1.0" or text/event-stream (or use a WebSocket, graphql-transport-ws).',
  { extensions: { code: 'BAD_REQUEST' } },
);

interface Operation {
  document: DocumentNode;
  operationName: string | null;
  variables: Record<string, unknown>;
}

export interface HttpSubscriptionDeps {
  core: SubscriptionCore;
  schema: () => GraphQLSchema | undefined;
  /** The gateway's edge: its middleware ran before this one; the document's shape and trusted documents come from it too. */
  edge: Edge;
  limits: HttpSubscriptionLimits;
  /** Where per-user and per-partner streams are counted across gateways (Redis, else memory). */
  caps: SharedCaps;
}

/**
 * Subscriptions over plain HTTP at /graphql, for clients and networks where WebSockets break:
 * Apollo's multipart protocol (`Accept: multipart/mixed;subscriptionSpec="1.0"`) and GraphQL over
 * SSE (`Accept: text/event-stream`). Runs after the edge middleware (gateway/edge/http.ts), so
 * every step of the edge has already applied, as to any request; the document is validated with
 * the edge's shape rules, as Apollo and the WebSocket validate theirs. Anything that is not a valid
 * subscription goes on to Apollo (its errors included, as JSON even to an SSE client); a valid one
 * asking for neither transport is 406 BAD_REQUEST, never a masked internal error.
 * The events come from the same core as the WebSocket's (subscribe.ts): same fields, rules, codes.
 */
export function createHttpSubscriptions(deps: HttpSubscriptionDeps) {
  const slots = createStreamSlots(deps.limits, deps.caps);
  const open: StreamContext['open'] = new Map();
  const ctx: StreamContext = { core: deps.core, open, heartbeatMs: deps.limits.heartbeatMs };
  const middleware: express.RequestHandler = (req, res, next) => {
    const schema = deps.schema();
    const operation = schema ? subscriptionOf(req, schema, deps.edge, edgeOf(res).client) : undefined;
    if (!schema || !operation) {
      refusalsAsJson(req);
      next();
      return;
    }
    const transport = requestedTransport(req.header('accept'), acceptedMultipartSpec(req.header('accept')));
    if (!transport) {
      sendErrors(res, 406, NOT_ACCEPTABLE);
      return;
    }
    serve(req, res, transport, schema, operation).catch(next);
  };

  async function serve(req: express.Request, res: express.Response, transport: HttpTransport, schema: GraphQLSchema, operation: Operation) {
    // The caller as the edge decided it, once per request (gateway/edge/).
    const edge = edgeOf(res);
    if (edge.identityError) {
      sendErrors(res, 401, edge.identityError);
      return;
    }
    const subscriber = subscriberOf(edge, deps.edge);
    const slot = await slots.take(req.ip ?? 'unknown', subscriber.identity.userId, edge.client.partnerId);
    if (typeof slot === 'number') {
      const error =
        slot === 503
          ? serviceUnavailable('Too many subscription streams on this gateway; retry.')
          : appError(ErrorCode.RATE_LIMITED, 'Too many open subscription streams for this client.');
      sendErrors(res, slot, error);
      return;
    }
    try {
      await stream(ctx, res, transport, { schema, ...operation, subscriber });
    } finally {
      slot.release();
    }
  }

  return {
    middleware,
    /** Streams open on this gateway (tests check a client abort frees its slot). */
    openStreams: () => slots.total(),
    /** Ends every stream (shutdown): clients reconnect elsewhere and resume with `after`. */
    close() {
      deps.caps.close();
      for (const [out, stop] of open) {
        stop();
        out.end();
      }
    },
  };
}

/** The caller as the event stream knows it; a partner's stream also ends when its key is revoked. */
function subscriberOf(edge: EdgeRequest, gatewayEdge: Pick<Edge, 'revocationOf'>): Subscriber {
  const revoked = edge.client.partnerId !== null ? gatewayEdge.revocationOf(edge.client.partnerId) : undefined;
  return { identity: edge.identity, expiresAt: edge.expiresAt, ...(revoked ? { revoked } : {}) };
}

interface StreamContext {
  core: SubscriptionCore;
  /** Each open stream's framing, and how to end its event stream. */
  open: Map<SubscriptionFraming, () => void>;
  heartbeatMs: number;
}

/** Opens the subscription and streams it until it ends, the client leaves, or the gateway shuts down. */
async function stream(ctx: StreamContext, res: express.Response, transport: HttpTransport, request: SubscribeRequest) {
  // A client that leaves while the subscription opens (replay, Redis) must not leave a stream behind.
  const client = { gone: false };
  res.once('close', () => (client.gone = true));
  const outcome = await ctx.core.subscribe(request);
  if (client.gone) {
    if (isEventStream(outcome)) void outcome.return?.();
    return;
  }
  const out = transport === 'multipart' ? multipartFraming(res) : sseFraming(res);
  if (!isEventStream(outcome)) {
    out.next(outcome);
    out.end();
    return;
  }
  ctx.open.set(out, () => void outcome.return?.());
  try {
    await pump(out, outcome, res, request.subscriber, ctx.heartbeatMs);
  } catch (err) {
    out.fail(ctx.core.asErrors(err).map(formatted));
    out.end();
  } finally {
    ctx.open.delete(out);
  }
}

/** The request's operation when it is a valid subscription; otherwise undefined and Apollo answers it. */
function subscriptionOf(
  req: express.Request,
  schema: GraphQLSchema,
  edge: Pick<Edge, 'parseOptions' | 'validate' | 'documentById'>,
  client: ClientInfo,
): Operation | undefined {
  const params = (req.method === 'GET' ? req.query : req.body) as Record<string, unknown> | undefined;
  if (!params || typeof params !== 'object') return undefined;
  const query = typeof params.query === 'string' ? params.query : persistedId(params.extensions, (id) => edge.documentById(client, id));
  if (!query || !/\bsubscription\b/.test(query)) return undefined;
  let document: DocumentNode;
  try {
    document = parse(query, edge.parseOptions);
  } catch {
    return undefined;
  }
  const operationName = typeof params.operationName === 'string' ? params.operationName : null;
  if (getOperationAST(document, operationName)?.operation !== OperationTypeNode.SUBSCRIPTION) return undefined;
  if (!document.definitions.every((d) => d.kind === Kind.OPERATION_DEFINITION || d.kind === Kind.FRAGMENT_DEFINITION)) return undefined;
  if (edge.validate(schema, document).length > 0) return undefined;
  const variables = decoded(params.variables);
  return variables ? { document, operationName, variables } : undefined;
}

/**
 * A subscription that cannot be streamed (invalid, refused by a limit) asked for over SSE alone:
 * graphql-sse's own server answers it 400 with the errors as JSON. Apollo writes that answer, with
 * the codes any HTTP request gets, once the request accepts JSON; left as it was, Apollo said 406.
 */
function refusalsAsJson(req: express.Request): void {
  if (requestedTransport(req.header('accept'), undefined) !== 'sse') return;
  const params = (req.method === 'GET' ? req.query : req.body) as Record<string, unknown> | undefined;
  if (typeof params?.query === 'string' && /\bsubscription\b/.test(params.query)) req.headers.accept = 'application/json';
}

function persistedId(extensions: unknown, documentById: (id: string) => string | undefined): string | undefined {
  const ext = decoded(extensions) as { persistedQuery?: { sha256Hash?: unknown } } | undefined;
  const hash = ext?.persistedQuery?.sha256Hash;
  return typeof hash === 'string' ? documentById(hash) : undefined;
}

/** A JSON object, or its string form (GET); undefined for anything else (Apollo refuses it). */
function decoded(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return {};
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value) as unknown;
    } catch {
      return undefined;
    }
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
}

/**
 * Results out as they come, heartbeats in between. The client's pace is the stream's: while the
 * socket has not drained, no further event is pulled, so a reader that stops is cut off by the
 * shared queue bound (SUBSCRIBER_TOO_SLOW), as on the WebSocket. A client abort ends the stream.
 */
async function pump(
  out: SubscriptionFraming,
  results: AsyncIterableIterator<ExecutionResult>,
  res: ServerResponse,
  subscriber: Subscriber,
  heartbeatMs: number,
) {
  const heartbeat = setInterval(() => out.heartbeat(), heartbeatMs);
  const stop = () => void results.return?.();
  out.onClose(stop);
  // The response's own 'close' comes however it ends (client gone, or ended here), so no wait outlives it.
  const gone = new Promise<void>((resolve) => res.once('close', resolve));
  // The WebSocket checks the token's expiry as events pass; a quiet HTTP stream needs a timer.
  const ttl = subscriber.expiresAt - Date.now();
  const expiry = Number.isFinite(ttl)
    ? setTimeout(
        () => {
          out.fail([unauthenticated('The access token expired; subscribe again with a fresh one.')]);
          stop();
        },
        Math.max(0, Math.min(ttl, 2 ** 31 - 1)),
      )
    : undefined;
  try {
    for await (const result of results) {
      if (out.closed) break;
      // The event stream ends with a result holding only errors (too slow, interrupted, expired).
      if (result.data === undefined && result.errors?.length) out.fail(result.errors.map(formatted));
      else out.next(result);
      if (res.writableNeedDrain) await Promise.race([new Promise<void>((resolve) => res.once('drain', resolve)), gone]);
    }
  } finally {
    clearInterval(heartbeat);
    clearTimeout(expiry);
    out.end();
  }
}

const formatted = (error: GraphQLError) => (typeof error.toJSON === 'function' ? error.toJSON() : error);

/**
 * Open streams per gateway and per client address (this gateway's sockets), and per user and per
 * partner key across gateways (shared caps: a user cannot open the cap on each gateway); a slot is
 * taken before the subscription opens.
 */
function createStreamSlots(limits: HttpSubscriptionLimits, caps: SharedCaps) {
  const perIp = new Map<string, number>();
  let total = 0;
  const bump = (key: string, by: number) => {
    const n = (perIp.get(key) ?? 0) + by;
    if (n <= 0) perIp.delete(key);
    else perIp.set(key, n);
  };
  return {
    async take(ip: string, userId: string | null, partnerId: string | null): Promise<{ release(): void } | 429 | 503> {
      if (total >= limits.maxTotal) return 503;
      if ((perIp.get(ip) ?? 0) >= limits.maxPerIp) return 429;
      // Held locally while the shared caps answer, so a burst cannot pass the local checks together.
      total += 1;
      bump(ip, 1);
      const free = () => {
        total -= 1;
        bump(ip, -1);
      };
      const shared = await caps.take([
        ...(userId !== null ? [{ key: `user:${userId}`, max: limits.maxPerUser }] : []),
        ...(partnerId !== null ? [{ key: `partner:${partnerId}`, max: limits.maxPerPartner }] : []),
      ]);
      if (!shared) {
        free();
        return 429;
      }
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          free();
          shared.release();
        },
      };
    },
    total: () => total,
  };
}
