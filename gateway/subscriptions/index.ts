import type http from 'node:http';
import type { GraphQLError, GraphQLSchema, ParseOptions, ValidationRule } from 'graphql';
import type { ApolloServer } from '@apollo/server';
import type { RedisGuard } from '../../platform/redis-guard.js';
import type { Identity } from '../../platform/auth/identity.js';
import type { GatewayConfig } from '../../platform/config.js';
import type { EventBus } from '../../platform/events/bus.js';
import type { Logger } from '../../platform/logger.js';
import type { ClientAuth } from '../auth.js';
import type { Policy } from '../authorization/policies.js';
import type { CostCeiling } from '../limits/cost-budget.js';
import type { GatewayContext } from '../context.js';
import type { SubscriptionFields } from './fields.js';
import { createHttpSubscriptions } from './http-server.js';
import type { DocumentById, HttpSubscriptionLimits } from './http-server.js';
import type { LiveEvents } from './live-events.js';
import { createSharedCaps } from './shared-caps.js';
import { createSubscriptionCore } from './subscribe.js';
import { createSubscriptionServer } from './ws-server.js';
import type { SocketEdge, SubscriptionLimits } from './ws-server.js';

export { eventStreamStats } from './event-stream.js';
export { createLiveEvents } from './live-events.js';

/** What the subscription transports are built from (gateway/server.ts wires them). */
export interface SubscriptionDeps {
  config: GatewayConfig;
  /** The loaded supergraph's @event fields (they follow a reload). */
  fields: () => SubscriptionFields;
  apollo: ApolloServer<GatewayContext>;
  schema: () => GraphQLSchema | undefined;
  auth: ClientAuth;
  bus: EventBus;
  live: LiveEvents;
  log: Logger;
  /** The @authenticated / @requiresScopes of the supergraph a schema came from. */
  policies: (schema: GraphQLSchema) => Map<string, Policy>;
  /** Partner keys and the safelist, as on HTTP; `documentById` resolves a trusted document sent by id. */
  edge: SocketEdge & { documentById?: DocumentById };
  validationRules: readonly ValidationRule[];
  parseOptions: ParseOptions;
  admit: (identity: Identity, clientIp: string | undefined) => Promise<GraphQLError | undefined>;
  /** The static cost ceiling HTTP requests meet (limits/cost-budget.ts), applied to every subscription. */
  costCeiling: CostCeiling;
  clientIp: (req: http.IncomingMessage) => string | undefined;
  /** Per-user and per-partner stream counts shared by every gateway (null: memory, embedded mode). */
  redis: RedisGuard | null;
}

/**
 * Subscriptions on every transport the gateway serves at /graphql: graphql-ws on the upgrade,
 * Apollo's multipart and GraphQL over SSE on plain requests. Which fields exist, which events feed
 * them and who may receive them is read from the supergraph (`@event`, fields.ts).
 */
export function createSubscriptions(deps: SubscriptionDeps) {
  const { config } = deps;
  const core = createSubscriptionCore({
    apollo: deps.apollo,
    bus: deps.bus,
    live: deps.live,
    log: deps.log,
    fields: deps.fields,
    policies: deps.policies,
    costCeiling: deps.costCeiling,
    maxQueuedEvents: config.WS_MAX_QUEUED_EVENTS,
  });
  const ws = createSubscriptionServer({
    core,
    schema: () => deps.schema()!,
    auth: deps.auth,
    limits: socketLimits(config),
    edge: deps.edge,
    validationRules: deps.validationRules,
    admit: deps.admit,
    clientIp: deps.clientIp,
  });
  const overHttp = createHttpSubscriptions({
    core,
    schema: deps.schema,
    auth: deps.auth,
    limits: httpLimits(config),
    validationRules: deps.validationRules,
    parseOptions: deps.parseOptions,
    ...(deps.edge.documentById ? { documentById: deps.edge.documentById } : {}),
    ...(deps.edge.revocationOf ? { revocationOf: deps.edge.revocationOf } : {}),
    caps: createSharedCaps({ redis: deps.redis, prefix: `${config.EVENT_NAMESPACE}subscription-caps:`, log: deps.log }),
  });
  return {
    /** Edge middleware for /graphql, after the partner key, safelist and rate limit. */
    http: overHttp.middleware,
    attach: (server: http.Server) => ws.attach(server),
    async close() {
      overHttp.close();
      await ws.close();
    },
    clientCount: ws.clientCount,
    connectionCount: ws.connectionCount,
    httpStreams: overHttp.openStreams,
  };
}

const socketLimits = (config: GatewayConfig): SubscriptionLimits => ({
  maxPayloadBytes: config.WS_MAX_PAYLOAD_BYTES,
  maxSubscriptionsPerConnection: config.WS_MAX_SUBSCRIPTIONS_PER_CONNECTION,
  maxTotal: config.WS_MAX_CONNECTIONS,
  maxPerIp: config.WS_MAX_CONNECTIONS_PER_IP,
  anonymousIdleMs: config.WS_ANONYMOUS_IDLE_MS,
});

const httpLimits = (config: GatewayConfig): HttpSubscriptionLimits => ({
  maxTotal: config.HTTP_SUBSCRIPTIONS_MAX,
  maxPerIp: config.HTTP_SUBSCRIPTIONS_MAX_PER_IP,
  maxPerUser: config.HTTP_SUBSCRIPTIONS_MAX_PER_USER,
  maxPerPartner: config.HTTP_SUBSCRIPTIONS_MAX_PER_PARTNER,
  heartbeatMs: config.SUBSCRIPTION_HEARTBEAT_MS,
});
