import type http from 'node:http';
import { randomUUID } from 'node:crypto';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { GraphQLError, print, specifiedRules, validate } from 'graphql';
import type { ExecutionArgs, ExecutionResult, GraphQLSchema, ValidationRule } from 'graphql';
import type { ApolloServer } from '@apollo/server';
import type { Identity } from '../../platform/auth/identity.js';
import { ErrorCode, appError, isPublicError } from '../../platform/errors.js';
import type { EventBus } from '../../platform/events/bus.js';
import type { Logger } from '../../platform/logger.js';
import type { ClientAuth } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { nulCharacterError } from '../../platform/input-rules.js';
import { planSubscription } from './event-query.js';
import { openEventStream } from './event-stream.js';
import type { Subscriber } from './event-stream.js';
import type { LiveEvents } from './live-events.js';

export interface SubscriptionLimits {
  /** Largest message a client may send (bytes). */
  maxPayloadBytes: number;
  maxSubscriptionsPerConnection: number;
  maxQueuedEventsPerSubscription: number;
}

type ConnectionState = {
  subscriber?: Subscriber;
  active?: number;
  clientIp?: string;
};

/**
 * Subscriptions at the gateway's /graphql over graphql-ws (graphql-transport-ws). The token comes
 * in connectionParams at connection_init (`authorization: "Bearer …"` or `token`); a bad token is
 * refused with close code 4403. Each subscription becomes an event stream (event-stream.ts) whose
 * events are resolved through the gateway's own query pipeline (event-query.ts).
 */
export function createSubscriptionServer(deps: {
  apollo: ApolloServer<GatewayContext>;
  schema: () => GraphQLSchema;
  auth: ClientAuth;
  bus: EventBus;
  live: LiveEvents;
  log: Logger;
  limits: SubscriptionLimits;
  /** Extra validation for subscription documents (the gateway's operation limits), as HTTP operations get. */
  validationRules?: readonly ValidationRule[];
  /** The caller's address from the upgrade request, read as the HTTP side reads req.ip. */
  clientIp?: (req: http.IncomingMessage) => string | undefined;
  /** Rate limit per operation sent over the socket; an error refuses it. */
  admit?: (identity: Identity, clientIp: string | undefined) => Promise<GraphQLError | undefined>;
}) {
  const { apollo, auth, log, limits } = deps;
  let wss: WebSocketServer | undefined;
  let disposable: { dispose(): void | Promise<void> } | undefined;

  const execute = async (query: string, variables: Record<string, unknown>, identity: Identity, clientIp?: string): Promise<ExecutionResult> => {
    const response = await apollo.executeOperation({ query, variables }, { contextValue: { identity, requestId: randomUUID(), client: { name: 'subscription', version: null, partnerId: null }, ...(clientIp ? { clientIp } : {}) } });
    if (response.body.kind !== 'single') throw new Error('incremental delivery is not supported here');
    const { errors, ...result } = response.body.singleResult;
    // Apollo hands back formatted (plain) errors; graphql-ws serializes GraphQLErrors (toJSON).
    return errors ? { ...result, errors: errors.map((e) => new GraphQLError(e.message, { path: e.path, extensions: e.extensions })) } as ExecutionResult : result as ExecutionResult;
  };

  /**
   * One execution per (event, document, variables, caller): a thousand anonymous watchers of one
   * product cost one query per stock change, not a thousand. Entries live only while the event fans out.
   */
  const shared = new Map<string, Promise<ExecutionResult>>();
  const runEventQuery = (query: string, variables: Record<string, unknown>, identity: Identity, eventId: string) => {
    const key = `${eventId}\n${identity.userId ?? ''}|${identity.role ?? ''}|${identity.scopes.join(' ')}\n${query}\n${JSON.stringify(variables)}`;
    let pending = shared.get(key);
    if (!pending) {
      pending = execute(query, variables, identity);
      shared.set(key, pending);
      setTimeout(() => shared.delete(key), 5_000).unref();
    }
    return pending;
  };

  const asErrors = (err: unknown): readonly GraphQLError[] => [
    isPublicError(err) ? err : (log.error({ err }, 'subscription failed'), appError(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error')),
  ];

  return {
    attach(server: http.Server) {
      wss = new WebSocketServer({ server, path: '/graphql', maxPayload: limits.maxPayloadBytes });
      disposable = useServer<Record<string, unknown>, ConnectionState>(
        {
          schema: () => deps.schema(),
          // Coded as Apollo codes them over HTTP.
          validate: (schema, document) =>
            validate(schema, document, [...specifiedRules, ...(deps.validationRules ?? [])]).map(
              (e) => new GraphQLError(e.message, { nodes: e.nodes, extensions: { ...e.extensions, code: 'GRAPHQL_VALIDATION_FAILED' } }),
            ),
          onConnect: async (ctx) => {
            const params = ctx.connectionParams ?? {};
            const raw = typeof params.authorization === 'string' ? params.authorization : typeof params.token === 'string' ? `Bearer ${params.token}` : undefined;
            try {
              ctx.extra.subscriber = await auth.identify(raw);
              ctx.extra.active = 0;
              ctx.extra.clientIp = deps.clientIp?.(ctx.extra.request);
              return true;
            } catch {
              return false; // graphql-ws closes with 4403 Forbidden
            }
          },
          onSubscribe: async (ctx) => {
            if ((ctx.extra.active ?? 0) >= limits.maxSubscriptionsPerConnection) {
              return [appError(ErrorCode.BAD_USER_INPUT, `At most ${limits.maxSubscriptionsPerConnection} subscriptions per connection.`)];
            }
            // Counted before the rate limit's await, so a burst of subscribes cannot all pass the check.
            ctx.extra.active = (ctx.extra.active ?? 0) + 1;
            const refused = await deps.admit?.(ctx.extra.subscriber!.identity, ctx.extra.clientIp);
            if (!refused) return undefined;
            ctx.extra.active -= 1; // refused here: graphql-ws calls no onComplete for it
            return [refused];
          },
          onComplete: (ctx) => {
            ctx.extra.active = Math.max(0, (ctx.extra.active ?? 1) - 1);
          },
          context: (ctx) => ({ subscriber: ctx.extra.subscriber, clientIp: ctx.extra.clientIp }),
          subscribe: async (args: ExecutionArgs) => {
            const { subscriber } = args.contextValue as { subscriber: Subscriber };
            try {
              const nul = nulCharacterError(args.document, args.variableValues as Record<string, unknown> | undefined);
              if (nul) return { errors: [nul] };
              const plan = planSubscription(args.schema, args.document, args.operationName, (args.variableValues ?? {}) as Record<string, unknown>);
              return await openEventStream(plan, subscriber, {
                bus: deps.bus,
                live: deps.live,
                runQuery: runEventQuery,
                maxQueue: limits.maxQueuedEventsPerSubscription,
                replayPageSize: 500,
              });
            } catch (err) {
              return { errors: asErrors(err) };
            }
          },
          // Queries and mutations sent over the socket run like HTTP ones.
          execute: async (args: ExecutionArgs) => {
            const { subscriber, clientIp } = args.contextValue as { subscriber: Subscriber; clientIp?: string };
            try {
              return await execute(print(args.document), (args.variableValues ?? {}) as Record<string, unknown>, subscriber.identity, clientIp);
            } catch (err) {
              return { errors: asErrors(err) };
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
  };
}
