import { closeRedis } from '../platform/shutdown.js';
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
import type { GraphQLSchema } from 'graphql';
import type { GatewayConfig } from '../platform/config.js';
import { createErrorFormatter } from '../platform/errors.js';
import { createServiceApp, jsonNestingCheck } from '../platform/http.js';
import { createApolloLogger } from '../platform/logger.js';
import type { Logger } from '../platform/logger.js';
import { inputRulesPlugin } from '../platform/input-rules.js';
import { createRequestTelemetry, createServiceObservability, createSubgraphFetchMetrics } from '../platform/observability/index.js';
import type { RequestTelemetry, ServiceMetrics } from '../platform/observability/index.js';
import { ROOT } from '../platform/paths.js';
import type { RunnableService } from '../platform/run-service.js';
import { createServiceCore } from '../platform/service.js';
import { createEventBus } from '../platform/events/index.js';
import { createAuthorizingGateway } from './authorization/authorizing-gateway.js';
import { createDeferringGateway } from './incremental/deferring-gateway.js';
import { createProgressiveOverride } from './progressive-override.js';
import { createConsistency } from './consistency.js';
import { contextFromEdge } from './context.js';
import type { GatewayContext } from './request.js';
import { createEdge } from './edge/index.js';
import type { Edge } from './edge/index.js';
import { createEdgeMiddleware, edgeOf } from './edge/http.js';
import { createGraphiQL } from './explorer/graphiql.js';
import { clientAddress, createClientAuth } from './identity/index.js';
import type { TrustProxy } from './identity/index.js';
import { createLimits } from './limits/index.js';
import type { Limits } from './limits/index.js';
import { createPersistedQueries } from './persisted-queries/index.js';
import type { PersistedQueries } from './persisted-queries/index.js';
import { createGatewayReadiness } from './readiness.js';
import { createGatewayRedis } from './redis.js';
import { registerRedisMetrics } from '../platform/redis-guard.js';
import { createSubgraphRegistry } from './subgraph-registry.js';
import type { SubgraphRegistry } from './subgraph-registry.js';
import { routingUrl } from './routing.js';
import { loadSupergraph } from './supergraph-load.js';
import type { LoadedSupergraph } from './supergraph-load.js';
import { createPinnedGateway } from './supergraph-pinning.js';
import { createSupergraphState } from './supergraph-reload.js';
import { followSupergraphFile, followSupergraphUrl } from './supergraph-sources.js';
import type { OfferSupergraph } from './supergraph-sources.js';
import { createLiveEvents, createSubscriptions as createSubscriptionTransports, eventStreamStats } from './subscriptions/index.js';
import type { LiveEvents } from './subscriptions/live-events.js';
import { createGatewayCache } from './cache/index.js';
import { createHitLane } from './cache/hit-lane.js';
import { routeGraphql } from '../platform/subgraph-http.js';
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

/**
 * The federated gateway over the loaded supergraph: routing overrides, per-subgraph resilience,
 * authorization, @defer, and the supergraph's hot reload. @apollo/gateway takes the supergraph
 * through its own update mechanism (`supergraphSdl` as a function receiving `update`): each new
 * SDL from the file or URL is checked and derived first (supergraph-reload.ts), then handed to it.
 */
function createFederation(deps: {
  config: GatewayConfig;
  initial: LoadedSupergraph;
  subgraphs: SubgraphRegistry;
  metrics: ServiceMetrics;
  log: Logger;
  formatError: ReturnType<typeof createErrorFormatter>;
}) {
  const { config, log } = deps;
  const fetchMetrics = createSubgraphFetchMetrics(deps.metrics);
  const state = createSupergraphState({
    initial: deps.initial,
    load: (sdl) => loadSupergraph(sdl, { config, log }),
    log,
    metrics: deps.metrics,
  });
  const dataSources: ServiceMap = {};
  const gateway = new ApolloGateway({
    logger: createApolloLogger(log),
    supergraphSdl: async ({ update }) => {
      state.attach(update);
      const sources = followSupergraphSources(config, deps.initial.supergraph.hash, state.offer, log);
      return { supergraphSdl: deps.initial.gatewaySdl, cleanup: async () => sources.close() };
    },
    buildService: ({ name, url }) =>
      (dataSources[name] = deps.subgraphs.dataSource(name, routingUrl(config.SUBGRAPH_URLS, name, url!), fetchMetrics)),
  });
  // Progressive @override(label: "percent(N)"): N% of callers, sticky, planned with the label on (gateway/progressive-override.ts).
  const overriding = createProgressiveOverride(gateway, { dataSources: () => dataSources, metrics: deps.metrics });
  // @defer: planned and executed part by part (gateway/incremental/), over the same data sources.
  const deferring = createDeferringGateway(overriding, {
    dataSources: () => dataSources,
    formatError: deps.formatError,
    planning: () => state.current().planning(),
  });
  const pinned = createPinnedGateway(deferring.gateway, { state, dataSources: () => dataSources });
  const policiesFor = (schema: GraphQLSchema) => (state.forSchema(schema) ?? state.current()).policies;
  const outer = createAuthorizingGateway(pinned, policiesFor);
  let apiSchema: GraphQLSchema | undefined;
  gateway.onSchemaLoadOrUpdate(({ apiSchema: loaded }) => {
    apiSchema = loaded;
  });
  // The schema Apollo Server hands requests (and GraphiQL's introspection sees), bound to its load.
  outer.onSchemaLoadOrUpdate(({ apiSchema: served }) => state.bindSchema(served));
  return { gateway: outer, state, policiesFor, deferPlugin: deferring.plugin, apiSchema: () => apiSchema };
}

/** The file at SUPERGRAPH_PATH, and SUPERGRAPH_URL when set: each offers its own changes. */
function followSupergraphSources(config: GatewayConfig, initialHash: string, offer: OfferSupergraph, log: Logger) {
  const intervalMs = config.SUPERGRAPH_POLL_INTERVAL_MS;
  const file = followSupergraphFile({ file: path.resolve(ROOT, config.SUPERGRAPH_PATH), initialHash, intervalMs, offer, log });
  const url = config.SUPERGRAPH_URL ? followSupergraphUrl({ url: config.SUPERGRAPH_URL, intervalMs, offer, log }) : undefined;
  return {
    close() {
      file.close();
      url?.close();
    },
  };
}

/** Rate, errors and latency by operation and client, and the `request completed` log line (also for the cache's edge hits). */
function createTelemetry(metrics: ServiceMetrics, log: Logger, persisted: PersistedQueries) {
  return createRequestTelemetry<GatewayContext>({
    metrics,
    log,
    clientOf: (c) => c.client.name,
    requestIdOf: (c) => c.requestId,
    trustOf: (c, request) =>
      persisted.isListed(request) ? 'listed' : c.identity.userId !== null || c.client.partnerId !== null ? 'accountable' : 'untrusted',
  });
}

/**
 * The HTTP request's path, in order. A request meets the middleware in this order, and the plugins
 * run in it too. The edge (identity, safelist, admission: gateway/edge/) is one part, the same
 * object the WebSocket and the HTTP streams call; the plugins are what must run inside Apollo.
 */
function edgeParts(deps: {
  telemetry: RequestTelemetry<GatewayContext>;
  edge: Edge;
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
    { name: 'telemetry', plugins: [deps.telemetry.plugin] },
    // The edge, every transport's: who is calling (decided once: every part after reads edgeOf(res)), the safelist, request counts.
    { name: 'edge', middleware: [createEdgeMiddleware(deps.edge)] },
    // Trusted documents sent by id, APQ and the GET cache policy.
    { name: 'persisted queries', plugins: persisted.plugins },
    // Read-your-writes: hands back the consistency token when a subgraph reported writes.
    { name: 'consistency', plugins: [deps.consistency.plugin] },
    // Limits inside Apollo: operation shape, partner cost budgets, sign-in attempts (request counts are the edge's).
    { name: 'limits', plugins: limits.plugins },
  ];
}

async function startApollo(
  config: GatewayConfig,
  formatError: ReturnType<typeof createErrorFormatter>,
  gateway: ReturnType<typeof createFederation>['gateway'],
  parts: EdgePart[],
  shape: { edge: Edge; apq: PersistedQueries['apq'] },
  log: Logger,
) {
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    logger: createApolloLogger(log),
    formatError,
    includeStacktraceInErrorResponses: false,
    introspection: config.NODE_ENV !== 'production',
    allowBatchedHttpRequests: false,
    // The edge's shape rules: the same the WebSocket and the HTTP streams validate with.
    validationRules: [...shape.edge.validationRules],
    parseOptions: shape.edge.parseOptions,
    csrfPrevention: true,
    persistedQueries: shape.apq,
    plugins: parts.flatMap((p) => p.plugins ?? []),
  });
  await apollo.start();
  return apollo;
}

/**
 * Subscriptions over WebSocket, HTTP multipart and SSE, behind the same edge object as HTTP (gateway/edge/).
 * Fields and their events come from the supergraph's @event.
 */
function createSubscriptions(deps: {
  config: GatewayConfig;
  federation: ReturnType<typeof createFederation>;
  log: Logger;
  apollo: ApolloServer<GatewayContext>;
  edge: Edge;
  limits: Limits;
  trustProxy: () => TrustProxy;
  live: LiveEvents;
  redis: RedisGuard | null;
}) {
  const { config, log, live } = deps;
  const bus = createEventBus(config, log);
  const subscriptions = createSubscriptionTransports({
    config,
    fields: () => deps.federation.state.current().subscriptionFields,
    apollo: deps.apollo,
    schema: deps.federation.apiSchema,
    bus,
    live,
    log,
    policies: deps.federation.policiesFor,
    edge: deps.edge,
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
  // Parsed and derived once here; later versions of the file (or SUPERGRAPH_URL) are followed by createFederation.
  const initial = loadSupergraph(await readFile(path.resolve(ROOT, config.SUPERGRAPH_PATH), 'utf8'), { config, log });
  // Per subgraph: deadlines, retries, circuit breaker, their metrics (names read from the supergraph).
  // Live events first: the entity cache (gateway/cache/) hears every event's invalidations from them.
  const live = createLiveEvents(config, log);
  const cache = await createGatewayCache({ config, live, metrics: observability.metrics, log });
  const subgraphs = createSubgraphRegistry({
    config,
    supergraph: initial.supergraph,
    signer,
    metrics: observability.metrics,
    log,
    cache,
  });
  const formatError = createErrorFormatter(log);
  const federation = createFederation({ config, initial, subgraphs, metrics: observability.metrics, log, formatError });
  const redis = await createGatewayRedis(config, log);
  const auth = createClientAuth(config);
  const persisted = await createPersistedQueries(config, redis, log);
  const consistency = createConsistency(config);
  const limits = createLimits({ config, redis, log, costHints: () => federation.state.current().costHints });
  // Every Redis connection of this gateway, for readiness details and `redis_connection_up`.
  const redisStatus = () => [
    ...(redis ? [redis] : []),
    ...(live.redisStatus?.() ?? []),
    ...cache.redisStatus(),
    ...(bus.redisStatus?.() ?? []),
  ];
  // Who is calling, the safelist and request counts, once for every transport (gateway/edge/).
  const edge = createEdge({ auth, persisted, limits, metrics: observability.metrics });
  const telemetry = createTelemetry(observability.metrics, log, persisted);
  const parts = edgeParts({ telemetry, edge, persisted, consistency, limits });
  const usage = createFieldUsage({ config, metrics: observability.metrics, log }); // which coordinates each client used (gateway/usage/)
  parts.push(usage);
  // A cached answer is served only after every check above has passed (gateway/cache/): right after
  // the edge from memory when it can be (hit-lane.ts, before express), else inside Apollo after the plugins above.
  const responseCache = cache.responseCache({
    supergraphHash: (schema) =>
      (schema && federation.state.forSchema(schema)?.supergraph.hash) ?? federation.state.current().supergraph.hash,
    consistency,
    telemetry: telemetry.record,
    recordUsage: usage.record,
    chargeCost: limits.costBudget.charge,
  });
  parts.push({ name: 'cache', plugins: responseCache.plugins });
  // Last: streams an operation's deferred parts once everything before has let it through.
  parts.push({ name: 'defer', plugins: [federation.deferPlugin] });
  const apollo = await startApollo(config, formatError, federation.gateway, parts, { edge, apq: persisted.apq }, log);

  const { app, health, finish } = createServiceApp({
    middleware: observability.middleware,
    log,
    readiness: createGatewayReadiness({
      supergraphLoaded: () => federation.apiSchema() !== undefined,
      supergraph: () => federation.state.status(),
      redis: redisStatus,
      subgraphs,
    }),
  });
  // req.ip: which proxies may name the client in X-Forwarded-For (rate limits per IP; see TRUST_PROXY).
  app.set('trust proxy', config.TRUST_PROXY);
  if (config.GRAPHIQL ? config.GRAPHIQL === 'true' : config.NODE_ENV !== 'production')
    app.get('/graphql', createGraphiQL(config.GRAPHIQL_DEFAULT_QUERY));
  const { subscriptions, bus } = createSubscriptions({
    config,
    federation,
    log,
    live,
    apollo,
    edge,
    limits,
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
  // The response cache's hits, in front of express (gateway/cache/hit-lane.ts); everything else goes on to the app.
  const handler = responseCache.hits
    ? createHitLane({
        rest: app,
        hits: responseCache.hits,
        edge,
        cors: corsMiddleware,
        body: { limitBytes: config.BODY_LIMIT, maxDepth: config.LIMIT_MAX_JSON_DEPTH },
        clientIp: (req) => clientAddress(req, app.get('trust proxy fn') as TrustProxy),
        log,
      })
    : undefined;

  observability.metrics.gauge('graphql_subscriptions_open', 'Subscriptions open in this process.', () => eventStreamStats.open);
  observability.metrics.gauge(
    'gateway_client_registry_bad_files',
    'Client registry files (client.json, manifests) whose last read failed: skipped, their last good state served. Above 0: a partner change is not being applied.',
    () => persisted.registryBadFiles(),
  );
  observability.metrics.gauge('websocket_connections_open', 'WebSocket connections open on this gateway.', () =>
    subscriptions.clientCount(),
  );
  observability.metrics.gauge('http_subscription_streams_open', 'Subscriptions streamed over HTTP (multipart, SSE) on this gateway.', () =>
    subscriptions.httpStreams(),
  );

  return {
    app,
    handler: handler && routeGraphql(handler, app),
    log,
    metrics: observability.metrics,
    attach: (server) => subscriptions.attach(server),
    onDrain: () => health.drain(),
    beforeDrain: () => subscriptions.close(),
    async stop() {
      await apollo.stop();
      subgraphs.close();
      await cache.close();
      await Promise.all([live.close(), bus.close(), redis && closeRedis(redis.client)]);
    },
  };
}
