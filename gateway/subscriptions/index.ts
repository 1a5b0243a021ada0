import type http from 'node:http';
import type { GraphQLSchema } from 'graphql';
import type { ApolloServer } from '@apollo/server';
import type { RedisGuard } from '../../platform/redis-guard.js';
import type { GatewayConfig } from '../../platform/config.js';
import type { EventBus } from '../../platform/events/bus.js';
import type { Logger } from '../../platform/logger.js';
import type { Policy } from '../authorization/policies.js';
import type { CostCeiling } from '../limits/cost-budget.js';
import type { Edge } from '../edge/index.js';
import type { GatewayContext } from '../request.js';
import type { SubscriptionFields } from './fields.js';
import { createHttpSubscriptions } from './http-server.js';
import type { HttpSubscriptionLimits } from './http-server.js';
import type { LiveEvents } from './live-events.js';
import { createSharedCaps } from './shared-caps.js';
import { createSubscriptionCore } from './subscribe.js';
import { createSubscriptionServer } from './ws-server.js';
import type { SubscriptionLimits } from './ws-server.js';

export { eventStreamStats } from './event-stream.js';
export { createLiveEvents } from './live-events.js';

/** What the subscription transports are built from (gateway/server.ts wires them). */
export interface SubscriptionDeps {
  config: GatewayConfig;
  /** The loaded supergraph's @event fields (they follow a reload). */
  fields: () => SubscriptionFields;
  apollo: ApolloServer<GatewayContext>;
  schema: () => GraphQLSchema | undefined;
  bus: EventBus;
  live: LiveEvents;
  log: Logger;
  /** The @authenticated / @requiresScopes of the supergraph a schema came from. */
  policies: (schema: GraphQLSchema) => Map<string, Policy>;
  /** The gateway's edge (gateway/edge/): the same steps, order and shape rules as every HTTP request. */
  edge: Edge;
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
    edge: deps.edge,
    limits: socketLimits(config),
    clientIp: deps.clientIp,
  });
  const overHttp = createHttpSubscriptions({
    core,
    schema: deps.schema,
    edge: deps.edge,
    limits: httpLimits(config),
    caps: createSharedCaps({ redis: deps.redis, prefix: `${config.EVENT_NAMESPACE}subscription-caps:`, log: deps.log }),
  });
  return {
    /** For /graphql, after the edge middleware: streams a subscription, passes anything else on to Apollo. */
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
