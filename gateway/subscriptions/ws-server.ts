import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import type { Extra } from 'graphql-ws/use/ws';
import type { Context } from 'graphql-ws';
import { GraphQLError, print } from 'graphql';
import type { ExecutionArgs, GraphQLSchema } from 'graphql';
import { ErrorCode, appError, unauthenticated } from '../../platform/errors.js';
import type { Edge } from '../edge/index.js';
import type { ClientInfo, EdgeRequest } from '../request.js';
import { IDLE_CLOSE_CODE, createConnectionLimits } from './connection-limits.js';
import type { ConnectionCaps } from './connection-limits.js';
import type { Subscriber } from './event-stream.js';
import type { SubscriptionCore } from './subscribe.js';

export interface SubscriptionLimits extends ConnectionCaps {
  /** Largest message a client may send (bytes). */
  maxPayloadBytes: number;
  /** An anonymous connection with no operation open is closed after this long (ms). */
  anonymousIdleMs: number;
  maxSubscriptionsPerConnection: number;
}

// graphql-ws keeps it as the socket's `extra` context, which must be a record.
interface ConnectionState extends Record<PropertyKey, unknown> {
  subscriber?: Subscriber;
  /** What the edge decided about this connection at connection_init (who it is). */
  edge?: EdgeRequest;
  active?: number;
  idle?: NodeJS.Timeout;
}

/**
 * Subscriptions at the gateway's /graphql over graphql-ws (graphql-transport-ws). The token comes
 * in connectionParams at connection_init (`authorization: "Bearer …"` or `token`); the edge
 * (gateway/edge/) decides who the connection is then, and admits each operation it sends, with the
 * same steps as every HTTP request; a bad token or API key is refused with close code 4403. Each
 * subscription becomes an event stream (event-stream.ts) whose events are resolved through the
 * gateway's own query pipeline (subscribe.ts, shared with HTTP).
 */
export interface SocketServerDeps {
  core: SubscriptionCore;
  schema: () => GraphQLSchema;
  /** The gateway's edge: the caller steps at connection_init, the operation steps and shape per operation. */
  edge: Edge;
  limits: SubscriptionLimits;
  /** The caller's address from the upgrade request, read as the HTTP side reads req.ip. */
  clientIp?: (req: http.IncomingMessage) => string | undefined;
}

type SocketContext = Context<Record<string, unknown>, Extra & Partial<ConnectionState>>;

export function createSubscriptionServer(deps: SocketServerDeps) {
  const { limits, core } = deps;
  let wss: WebSocketServer | undefined;
  let disposable: { dispose(): void | Promise<void> } | undefined;
  let connections: ReturnType<typeof createConnectionLimits> | undefined;

  return {
    attach(server: http.Server) {
      const caps = createConnectionLimits(limits, (req) => deps.clientIp?.(req));
      connections = caps;
      wss = new WebSocketServer({ server, path: '/graphql', maxPayload: limits.maxPayloadBytes, verifyClient: caps.verifyClient });
      disposable = useServer<Record<string, unknown>, ConnectionState>(
        {
          schema: () => deps.schema(),
          // Coded as Apollo codes them over HTTP (a cost refusal keeps its own code there too; no HTTP head on a socket).
          validate: (schema, document) =>
            deps.edge.validate(schema, document).map(({ message, nodes, extensions }) => {
              const { http: _http, ...rest } = extensions;
              const code = rest.code === ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE ? rest.code : 'GRAPHQL_VALIDATION_FAILED';
              return new GraphQLError(message, { nodes, extensions: { ...rest, code } });
            }),
          ...connectionLifecycle(deps),
          context: (ctx) => ({ subscriber: ctx.extra.subscriber, clientIp: ctx.extra.edge?.ip, client: ctx.extra.edge?.client }),
          subscribe: async (args: ExecutionArgs) => {
            const { subscriber } = args.contextValue as { subscriber: Subscriber };
            return core.subscribe({
              schema: args.schema,
              document: args.document,
              operationName: args.operationName,
              variables: args.variableValues ?? {},
              subscriber,
            });
          },
          // Queries and mutations sent over the socket run like HTTP ones.
          execute: async (args: ExecutionArgs) => {
            const { subscriber, clientIp, client } = args.contextValue as {
              subscriber: Subscriber;
              clientIp?: string;
              client?: ClientInfo;
            };
            try {
              return await core.execute(print(args.document), args.variableValues ?? {}, subscriber.identity, clientIp, client);
            } catch (err) {
              return { errors: core.asErrors(err) };
            }
          },
        },
        wss,
      );
    },
    /** Closes every socket with 1001 (going away), so clients reconnect elsewhere and resume with `after`. */
    async close() {
      await disposable?.dispose();
      await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
    },
    clientCount: () => wss?.clients.size ?? 0,
    /** Connections counted against the caps (accepted upgrades whose socket is still open). */
    connectionCount: () => connections?.open() ?? 0,
  };
}

/** The caller as the socket presents it: connectionParams (browsers cannot set upgrade headers), else the upgrade's headers. */
function callerOf(ctx: SocketContext, clientIp: SocketServerDeps['clientIp']) {
  const params = ctx.connectionParams ?? {};
  const authorization =
    typeof params.authorization === 'string'
      ? params.authorization
      : typeof params.token === 'string'
        ? `Bearer ${params.token}`
        : undefined;
  const header = (name: string) => {
    const value = params[name] ?? ctx.extra.request.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  return { requestId: randomUUID(), ip: clientIp?.(ctx.extra.request), header, authorization };
}

/** graphql-ws's connection and operation hooks: who the connection is (the edge), and what it may open. */
function connectionLifecycle(deps: SocketServerDeps) {
  const { limits, edge } = deps;
  /**
   * An anonymous connection costs a socket and names no one to count it against, so it may stay
   * only while it has an operation open; a signed-in one is bounded by its token's lifetime.
   */
  const armIdle = (ctx: SocketContext) => {
    clearTimeout(ctx.extra.idle);
    if (ctx.extra.subscriber?.identity.userId || ctx.extra.edge?.client.partnerId || (ctx.extra.active ?? 0) > 0) return;
    ctx.extra.idle = setTimeout(() => ctx.extra.socket.close(IDLE_CLOSE_CODE, 'Idle: no subscription'), limits.anonymousIdleMs);
    ctx.extra.idle.unref();
  };
  return {
    onConnect: async (ctx: SocketContext) => {
      const admitted = await edge.admitCaller(callerOf(ctx, deps.clientIp), 'websocket');
      // An unknown or revoked API key (HTTP: 401), or a bad token: graphql-ws closes with 4403 Forbidden.
      if ('refusal' in admitted || admitted.edge.identityError) return false;
      const { client, identity, expiresAt } = admitted.edge;
      const revoked = client.partnerId !== null ? edge.revocationOf(client.partnerId) : undefined;
      ctx.extra.subscriber = { identity, expiresAt, ...(revoked ? { revoked } : {}) };
      ctx.extra.edge = admitted.edge;
      ctx.extra.active = 0;
      armIdle(ctx);
      return true;
    },
    onSubscribe: async (ctx: SocketContext, _id: string, payload: unknown) => {
      // A connection outlives its API key: a revoked key refuses what the connection sends next.
      if (ctx.extra.subscriber?.revoked?.aborted) return [unauthenticated('The API key was revoked.')];
      if ((ctx.extra.active ?? 0) >= limits.maxSubscriptionsPerConnection) {
        return [appError(ErrorCode.BAD_USER_INPUT, `At most ${limits.maxSubscriptionsPerConnection} subscriptions per connection.`)];
      }
      // Counted before the edge's await, so a burst of subscribes cannot all pass the check.
      ctx.extra.active = (ctx.extra.active ?? 0) + 1;
      clearTimeout(ctx.extra.idle);
      // The edge's operation steps, exactly as for HTTP requests (same checks, codes and logs).
      const { refusal } = await edge.admitOperation(ctx.extra.edge!, payload, 'websocket');
      if (!refusal) return undefined;
      ctx.extra.active -= 1; // refused here: graphql-ws calls no onComplete for it
      armIdle(ctx);
      return [refusal.error];
    },
    onComplete: (ctx: SocketContext) => {
      ctx.extra.active = Math.max(0, (ctx.extra.active ?? 1) - 1);
      armIdle(ctx);
    },
    onClose: (ctx: SocketContext) => clearTimeout(ctx.extra.idle),
  };
}
