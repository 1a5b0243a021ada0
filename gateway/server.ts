import { readFile } from 'node:fs/promises';
import path from 'node:path';
import express from 'express';
import { ApolloServer } from '@apollo/server';
import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloGateway } from '@apollo/gateway';
import type { RedisGuard } from '../platform/redis-guard.js';
import type { ServiceMap } from '@apollo/gateway';
import type { GraphQLSchema, ParseOptions, ValidationRule } from 'graphql';
import { ConfigError } from '../platform/config.js';
import type { GatewayConfig } from '../platform/config.js';
import { createErrorFormatter } from '../platform/errors.js';
import { createServiceApp, jsonNestingCheck } from '../platform/http.js';
import type { Logger } from '../platform/logger.js';
import { inputRulesPlugin } from '../platform/input-rules.js';
import {
  createServiceObservability,
  createSubgraphFetchMetrics,
  instrumentFetcher,
  requestTelemetryPlugin,
} from '../platform/observability/index.js';
import type { ServiceMetrics } from '../platform/observability/index.js';
import { ROOT } from '../platform/paths.js';
import type { RunnableService } from '../platform/run-service.js';
import { createServiceCore } from '../platform/service.js';
import { createEventBus } from '../platform/events/index.js';
import { createClientAuth } from './auth.js';
import type { ClientAuth } from './auth.js';
import { createAuthorizingGateway } from './authorization/authorizing-gateway.js';
import { createDeferringGateway } from './incremental/deferring-gateway.js';
import { readPolicies } from './authorization/policies.js';
import { createConsistency } from './consistency.js';
import { contextFromEdge } from './context.js';
import type { GatewayContext } from './context.js';
import { createEdgeMiddleware, edgeOf } from './edge.js';
import { createGraphiQL } from './explorer/graphiql.js';
import { clientAddress, createLimits } from './limits/index.js';
import type { Limits, TrustProxy } from './limits/index.js';
import { createPersistedQueries } from './persisted-queries/index.js';
import type { PersistedQueries } from './persisted-queries/index.js';
import { createGatewayReadiness } from './readiness.js';
import { createGatewayRedis } from './redis.js';
import { registerRedisMetrics } from '../platform/redis-guard.js';
import { createSubgraphRegistry, supergraphSubgraphNames } from './subgraph-registry.js';
import type { SubgraphRegistry } from './subgraph-registry.js';
import { routingUrl, unknownRoutingOverrides } from './routing.js';
import { createLiveEvents, createSubscriptions as createSubscriptionTransports, eventStreamStats } from './subscriptions/index.js';
import type { LiveEvents } from './subscriptions/live-events.js';
import { createGatewayCache } from './cache/index.js';
import { createCors } from './cors.js';
import { createFieldUsage } from './usage/index.js';

/**
 * One part of the edge: HTTP middleware (runs on /graphql after the body is parsed, before Apollo)
 * and/or Apollo plugins (run inside the request pipeline). The edge is an ordered list of parts;
 * each concern lives in its own file and adds its part here.
 */
export interface EdgePart {
  name: string;
  middleware?: express.RequestHandler[];
  plugins?: ApolloServerPlugin<GatewayContext>[];
}

/** The federated gateway over the committed supergraph: routing overrides, per-subgraph resilience, authorization. */
function createFederation(
  config: GatewayConfig,
  supergraphSdl: string,
  subgraphs: SubgraphRegistry,
  metrics: ServiceMetrics,
  formatError: ReturnType<typeof createErrorFormatter>,
) {
  const unknown = unknownRoutingOverrides(config.SUBGRAPH_URLS, supergraphSubgraphNames(supergraphSdl));
  if (unknown.length) throw new ConfigError(unknown);
  const fetchMetrics = createSubgraphFetchMetrics(metrics);
  // @authenticated / @requiresScopes: enforced here (the stock gateway refuses to load them at all).
  const { gatewaySdl, byCoordinate: policies } = readPolicies(supergraphSdl);
  const dataSources: ServiceMap = {};
  const gateway = new ApolloGateway({
    supergraphSdl: gatewaySdl,
    buildService: ({ name, url }) =>
      (dataSources[name] = subgraphs.dataSource(name, routingUrl(config.SUBGRAPH_URLS, name, url!), (fetcher) =>
        instrumentFetcher(fetcher, name, fetchMetrics),
      )),
  });
  // @defer: planned and executed part by part (gateway/incremental/), over the same data sources.
  const deferring = createDeferringGateway(gateway, { dataSources: () => dataSources, formatError });
  let apiSchema: GraphQLSchema | undefined;
  gateway.onSchemaLoadOrUpdate(({ apiSchema: loaded }) => {
    apiSchema = loaded;
  });
  return {
    gateway: createAuthorizingGateway(deferring.gateway, policies),
    policies,
    deferPlugin: deferring.plugin,
    apiSchema: () => apiSchema,
  };
}

/** The edge, in order. A request meets the middleware in this order, and the plugins run in it too. */
function edgeParts(deps: {
  metrics: ServiceMetrics;
  log: Logger;
  auth: ClientAuth;
  persisted: PersistedQueries;
  consistency: ReturnType<typeof createConsistency>;
  limits: Limits;
}): EdgePart[] {
  const { persisted, limits } = deps;
  return [
    // Apollo Sandbox loads from a CDN: GraphiQL, bundled from npm, takes its place (GRAPHIQL).
    { name: 'landing page', plugins: [ApolloServerPluginLandingPageDisabled()] },
    // First: a request with no operation to run, or a NUL in a string, is refused before anything reads it.
    { name: 'input rules', plugins: [inputRulesPlugin<GatewayContext>()] },
    // Rate, errors and latency by operation and client, and the `request completed` log line.
    {
      name: 'telemetry',
      plugins: [
        requestTelemetryPlugin<GatewayContext>({
          metrics: deps.metrics,
          log: deps.log,
          clientOf: (c) => c.client.name,
          requestIdOf: (c) => c.requestId,
          trustOf: (c, request) =>
            persisted.isListed(request)
              ? 'listed'
              : c.identity.userId !== null || c.client.partnerId !== null
                ? 'accountable'
                : 'untrusted',
        }),
      ],
    },
    // Who is calling (partner API key, user token, client name, IP), decided once: every part after reads edgeOf(res).
    { name: 'identity', middleware: [createEdgeMiddleware({ auth: deps.auth, clientOf: persisted.clientOf })] },
    // Trusted documents, the safelist gate, APQ and the GET cache policy.
    { name: 'persisted queries', middleware: persisted.middleware, plugins: persisted.plugins },
    // Read-your-writes: hands back the consistency token when a subgraph reported writes.
    { name: 'consistency', plugins: [deps.consistency.plugin] },
    // Limits: request rate (429 before Apollo runs), operation shape, partner cost budgets, sign-in attempts.
    { name: 'limits', middleware: limits.middleware, plugins: limits.plugins },
  ];
}

async function startApollo(
  config: GatewayConfig,
  formatError: ReturnType<typeof createErrorFormatter>,
  gateway: ReturnType<typeof createFederation>['gateway'],
  parts: EdgePart[],
  shape: { validationRules: ValidationRule[]; parseOptions: ParseOptions; apq: PersistedQueries['apq'] },
) {
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    formatError,
    includeStacktraceInErrorResponses: false,
    introspection: config.NODE_ENV !== 'production',
    allowBatchedHttpRequests: false,
    validationRules: shape.validationRules,
    parseOptions: shape.parseOptions,
    csrfPrevention: true,
    persistedQueries: shape.apq,
    plugins: parts.flatMap((p) => p.plugins ?? []),
  });
  await apollo.start();
  return apollo;
}

/**
 * Subscriptions over WebSocket, HTTP multipart and SSE, behind the same edge as HTTP: partner keys,
 * safelist, operation limits, request counts. Fields and their events come from the supergraph's @event.
 */
function createSubscriptions(deps: {
  config: GatewayConfig;
  supergraphSdl: string;
  log: Logger;
  apollo: ApolloServer<GatewayContext>;
  auth: ClientAuth;
  persisted: PersistedQueries;
  limits: Limits;
  policies: ReturnType<typeof createFederation>['policies'];
  schema: () => GraphQLSchema | undefined;
  trustProxy: () => TrustProxy;
  live: LiveEvents;
  redis: RedisGuard | null;
}) {
  const { config, log, live } = deps;
  const bus = createEventBus(config, log);
  const subscriptions = createSubscriptionTransports({
    config,
    supergraphSdl: deps.supergraphSdl,
    apollo: deps.apollo,
    schema: deps.schema,
    auth: deps.auth,
    bus,
    live,
    log,
    policies: deps.policies,
    // Partner keys and the safelist, as on HTTP.
    edge: deps.persisted.socket,
    // The same operation limits, request counts and client address as HTTP.
    validationRules: deps.limits.validationRules,
    parseOptions: deps.limits.parseOptions,
    admit: deps.limits.admitSocketOperation,
    costCeiling: deps.limits.costCeiling,
    clientIp: (req) => clientAddress(req, deps.trustProxy()),
    redis: deps.redis,
  });
  return { subscriptions, bus };
}

// eslint-disable-next-line max-lines-per-function -- the gateway's wiring, one part after another; each part is built by its own factory
export async function createGatewayServer(config: GatewayConfig): Promise<RunnableService & { log: Logger }> {
  const { log, signer } = await createServiceCore('gateway', config);
  const observability = createServiceObservability('gateway');
  // The committed supergraph is the deployment artifact: no introspection of subgraphs at start-up.
  const supergraphSdl = await readFile(path.resolve(ROOT, config.SUPERGRAPH_PATH), 'utf8');
  // Per subgraph: deadlines, retries, circuit breaker, their metrics (names read from the supergraph).
  // Live events first: the entity cache (gateway/cache/) hears every event's invalidations from them.
  const live = createLiveEvents(config, log);
  const cache = await createGatewayCache({ config, live, metrics: observability.metrics, log });
  const subgraphs = createSubgraphRegistry({
    config,
    supergraphSdl,
    signer,
    metrics: observability.metrics,
    log,
    cache: (name, fetcher) => cache.fetcher(name, fetcher),
  });
  const formatError = createErrorFormatter(log);
  const federation = createFederation(config, supergraphSdl, subgraphs, observability.metrics, formatError);
  const redis = await createGatewayRedis(config, log);
  const auth = createClientAuth(config);
  const persisted = await createPersistedQueries(config, redis, log);
  const consistency = createConsistency(config);
  const limits = createLimits({ config, redis, log, supergraphSdl });
  // Every Redis connection of this gateway, for readiness details and `redis_connection_up`.
  const redisStatus = () => [
    ...(redis ? [redis] : []),
    ...(live.redisStatus?.() ?? []),
    ...cache.redisStatus(),
    ...(bus.redisStatus?.() ?? []),
  ];
  const parts = edgeParts({ metrics: observability.metrics, log, auth, persisted, consistency, limits });
  parts.push(createFieldUsage({ config, metrics: observability.metrics, log })); // which coordinates each client used (gateway/usage/)
  // A cached answer is served only after every check above has passed (gateway/cache/).
  parts.push({ name: 'cache', plugins: cache.plugins });
  // Last: streams an operation's deferred parts once everything before has let it through.
  parts.push({ name: 'defer', plugins: [federation.deferPlugin] });
  const apollo = await startApollo(config, formatError, federation.gateway, parts, { ...limits, apq: persisted.apq });

  const { app, health, finish } = createServiceApp({
    middleware: observability.middleware,
    log,
    readiness: createGatewayReadiness({ supergraphLoaded: () => federation.apiSchema() !== undefined, redis: redisStatus, subgraphs }),
  });
  // req.ip: which proxies may name the client in X-Forwarded-For (rate limits per IP; see TRUST_PROXY).
  app.set('trust proxy', config.TRUST_PROXY);
  if (config.GRAPHIQL ? config.GRAPHIQL === 'true' : config.NODE_ENV !== 'production')
    app.get('/graphql', createGraphiQL(config.GRAPHIQL_DEFAULT_QUERY));
  const { subscriptions, bus } = createSubscriptions({
    config,
    supergraphSdl,
    log,
    live,
    apollo,
    auth,
    persisted,
    limits,
    policies: federation.policies,
    schema: () => federation.apiSchema(),
    trustProxy: () => app.get('trust proxy fn') as TrustProxy,
    redis,
  });
  // CORS first: a preflight is answered before anything else on /graphql (the CSRF check included).
  const corsMiddleware = createCors(config);
  if (corsMiddleware) app.use('/graphql', corsMiddleware);
  app.use(
    '/graphql',
    express.json({ limit: config.BODY_LIMIT, verify: jsonNestingCheck(config.LIMIT_MAX_JSON_DEPTH) }),
    ...parts.flatMap((p) => p.middleware ?? []),
    // A subscription over HTTP (multipart, SSE) is streamed here, after the whole edge; anything else goes on to Apollo.
    subscriptions.http,
    expressMiddleware(apollo, { context: async ({ req, res }) => contextFromEdge(edgeOf(res), consistency.fromRequest(req)) }),
  );
  finish();
  registerRedisMetrics(observability.metrics.registry, redisStatus);

  observability.metrics.gauge('graphql_subscriptions_open', 'Subscriptions open in this process.', () => eventStreamStats.open);
  observability.metrics.gauge('websocket_connections_open', 'WebSocket connections open on this gateway.', () =>
    subscriptions.clientCount(),
  );
  observability.metrics.gauge('http_subscription_streams_open', 'Subscriptions streamed over HTTP (multipart, SSE) on this gateway.', () =>
    subscriptions.httpStreams(),
  );

  return {
    app,
    log,
    metrics: observability.metrics,
    attach: (server) => subscriptions.attach(server),
    onDrain: () => health.drain(),
    beforeDrain: () => subscriptions.close(),
    async stop() {
      await apollo.stop();
      subgraphs.close();
      await cache.close();
      await Promise.all([live.close(), bus.close(), redis?.client.quit().catch(() => redis.client.disconnect())]);
    },
  };
}
