import type http from 'node:http';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import type { Extra } from 'graphql-ws/use/ws';
import type { Context } from 'graphql-ws';
import { GraphQLError, print, specifiedRules, validate } from 'graphql';
import type { ExecutionArgs, GraphQLSchema, ValidationRule } from 'graphql';
import type { Identity } from '../../platform/auth/identity.js';
import { ErrorCode, appError, unauthenticated } from '../../platform/errors.js';
import type { ClientAuth } from '../auth.js';
import type { ClientInfo } from '../context.js';
import { declaredClient } from '../persisted-queries/partner-keys.js';
import type { ClientResolver } from '../persisted-queries/partner-keys.js';
import { requestedOperationOf } from '../persisted-queries/requested-operation.js';
import type { SafelistCheck } from '../persisted-queries/safelist.js';
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
  client?: ClientInfo;
  active?: number;
  clientIp?: string;
  idle?: NodeJS.Timeout;
}

/** The edge checks HTTP requests get, for the socket: partner key at connection_init, safelist per operation. */
export interface SocketEdge {
  clientOf: ClientResolver;
  check: SafelistCheck;
  /** Aborted when this partner key is revoked: the subscriptions opened with it end (UNAUTHENTICATED). */
  revocationOf?: (partnerId: string) => AbortSignal;
}

/**
 * Subscriptions at the gateway's /graphql over graphql-ws (graphql-transport-ws). The token comes
 * in connectionParams at connection_init (`authorization: "Bearer …"` or `token`); a bad token is
 * refused with close code 4403. Each subscription becomes an event stream (event-stream.ts) whose
 * events are resolved through the gateway's own query pipeline (subscribe.ts, shared with HTTP).
 */
export interface SocketServerDeps {
  core: SubscriptionCore;
  schema: () => GraphQLSchema;
  auth: ClientAuth;
  limits: SubscriptionLimits;
  /** Extra validation for subscription documents (the gateway's operation limits), as HTTP operations get. */
  validationRules?: readonly ValidationRule[];
  /** The caller's address from the upgrade request, read as the HTTP side reads req.ip. */
  clientIp?: (req: http.IncomingMessage) => string | undefined;
  /** Rate limit per operation sent over the socket; an error refuses it. */
  admit?: (identity: Identity, clientIp: string | undefined) => Promise<GraphQLError | undefined>;
  edge?: SocketEdge;
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
            validate(schema, document, [...specifiedRules, ...(deps.validationRules ?? [])]).map(({ message, nodes, extensions }) => {
              const { http: _http, ...rest } = extensions;
              const code = rest.code === ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE ? rest.code : 'GRAPHQL_VALIDATION_FAILED';
              return new GraphQLError(message, { nodes, extensions: { ...rest, code } });
            }),
          ...connectionLifecycle(deps),
          context: (ctx) => ({ subscriber: ctx.extra.subscriber, clientIp: ctx.extra.clientIp, client: ctx.extra.client }),
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

/** graphql-ws's connection and operation hooks: who the connection is, and what it may open. */
function connectionLifecycle(deps: SocketServerDeps) {
  const { auth, limits } = deps;
  /**
   * An anonymous connection costs a socket and names no one to count it against, so it may stay
   * only while it has an operation open; a signed-in one is bounded by its token's lifetime.
   */
  const armIdle = (ctx: SocketContext) => {
    clearTimeout(ctx.extra.idle);
    if (ctx.extra.subscriber?.identity.userId || ctx.extra.client?.partnerId || (ctx.extra.active ?? 0) > 0) return;
    ctx.extra.idle = setTimeout(() => ctx.extra.socket.close(IDLE_CLOSE_CODE, 'Idle: no subscription'), limits.anonymousIdleMs);
    ctx.extra.idle.unref();
  };
  return {
    onConnect: async (ctx: SocketContext) => {
      const params = ctx.connectionParams ?? {};
      const raw =
        typeof params.authorization === 'string'
          ? params.authorization
          : typeof params.token === 'string'
            ? `Bearer ${params.token}`
            : undefined;
      // Partner key and client name: connectionParams (browsers cannot set upgrade headers), else the upgrade's headers.
      const header = (name: string) => {
        const value = params[name] ?? ctx.extra.request.headers[name];
        return typeof value === 'string' ? value : undefined;
      };
      const client = deps.edge ? deps.edge.clientOf(header) : declaredClient(header);
      if (!client) return false; // an unknown or revoked API key: 4403, as HTTP answers 401
      try {
        const identified = await auth.identify(raw);
        const revoked = client.partnerId !== null ? deps.edge?.revocationOf?.(client.partnerId) : undefined;
        ctx.extra.subscriber = revoked ? { ...identified, revoked } : identified;
        ctx.extra.client = client;
        ctx.extra.active = 0;
        ctx.extra.clientIp = deps.clientIp?.(ctx.extra.request);
        armIdle(ctx);
        return true;
      } catch {
        return false; // graphql-ws closes with 4403 Forbidden
      }
    },
    onSubscribe: async (ctx: SocketContext, _id: string, payload: unknown) => {
      // The safelist, exactly as for HTTP requests (same check, same codes and logs).
      if (ctx.extra.subscriber?.revoked?.aborted) return [unauthenticated('The API key was revoked.')];
      const refusal = deps.edge?.check(ctx.extra.client!, requestedOperationOf(payload));
      if (refusal) return [new GraphQLError(refusal.error.message, { extensions: refusal.error.extensions })];
      if ((ctx.extra.active ?? 0) >= limits.maxSubscriptionsPerConnection) {
        return [appError(ErrorCode.BAD_USER_INPUT, `At most ${limits.maxSubscriptionsPerConnection} subscriptions per connection.`)];
      }
      // Counted before the rate limit's await, so a burst of subscribes cannot all pass the check.
      ctx.extra.active = (ctx.extra.active ?? 0) + 1;
      clearTimeout(ctx.extra.idle);
      const refused = await deps.admit?.(ctx.extra.subscriber!.identity, ctx.extra.clientIp);
      if (!refused) return undefined;
      ctx.extra.active -= 1; // refused here: graphql-ws calls no onComplete for it
      armIdle(ctx);
      return [refused];
    },
    onComplete: (ctx: SocketContext) => {
      ctx.extra.active = Math.max(0, (ctx.extra.active ?? 1) - 1);
      armIdle(ctx);
    },
    onClose: (ctx: SocketContext) => clearTimeout(ctx.extra.idle),
  };
}
