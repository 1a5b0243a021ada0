import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT } from '../platform/paths.js';
import express from 'express';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import { ApolloGateway } from '@apollo/gateway';
import type { GatewayConfig } from '../platform/config.js';
import { createServiceTokenSigner } from '../platform/auth/service-token.js';
import { createErrorFormatter } from '../platform/errors.js';
import { createHealth, jsonErrorHandler, requestIdMiddleware } from '../platform/http.js';
import { createLogger } from '../platform/logger.js';
import { inputRulesPlugin } from '../platform/input-rules.js';
import { createServiceObservability, createSubgraphFetchMetrics, instrumentFetcher, requestTelemetryPlugin, startTracingFromConfig } from '../platform/observability/index.js';
import type { RunnableService } from '../platform/run-service.js';
import { createClientAuth } from './auth.js';
import type { ClientInfo, GatewayContext } from './context.js';
import type { ApolloServerPlugin } from '@apollo/server';
import { createGatewayRedis } from './redis.js';
import { createPersistedQueries } from './persisted-queries/index.js';
import { readPolicies } from './authorization/policies.js';
import { createAuthorizingGateway } from './authorization/authorizing-gateway.js';
import { createGraphiQL } from './explorer/graphiql.js';
import { createEventBus } from '../platform/events/index.js';
import { createLiveEvents, createSubscriptions, eventStreamStats } from './subscriptions/index.js';
import type { GraphQLSchema } from 'graphql';
import { createSubgraphRegistry } from './subgraph-registry.js';
import { createGatewayReadiness } from './readiness.js';
import { createConsistency } from './consistency.js';
import { VERIFIED_IDENTITY, clientAddress, createLimits } from './limits/index.js';
import type { TrustProxy } from './limits/index.js';


/** Routing URLs come from the supergraph unless config overrides them (load balancers, tests). */
function subgraphUrl(config: GatewayConfig, name: string, fromSupergraph: string): string {
  const override = { users: config.USERS_URL, catalog: config.CATALOG_URL, orders: config.ORDERS_URL, billing: config.BILLING_URL }[name];
  return override ? new URL('/graphql', override).toString() : fromSupergraph;
}

export async function createGatewayServer(config: GatewayConfig): Promise<RunnableService & { log: ReturnType<typeof createLogger> }> {
  const log = createLogger('gateway', config.LOG_LEVEL, config.LOG_DESTINATION);
  startTracingFromConfig('gateway', config);
  const observability = createServiceObservability('gateway');
  const fetchMetrics = createSubgraphFetchMetrics(observability.metrics);
  const signer = await createServiceTokenSigner(config.SERVICE_PRIVATE_JWK);
  const auth = createClientAuth(config);
  // The committed supergraph is the deployment artifact: no introspection of subgraphs at start-up.
  const supergraphSdl = await readFile(path.resolve(ROOT, config.SUPERGRAPH_PATH), 'utf8');
  // Per subgraph: deadlines, retries, circuit breaker, their metrics (names read from the supergraph).
  const subgraphs = createSubgraphRegistry({ config, supergraphSdl, signer, metrics: observability.metrics, log });

  // Read by ApolloGateway's constructor; set here so no outbound telemetry starts unless configured.
  process.env.APOLLO_TELEMETRY_DISABLED = config.APOLLO_TELEMETRY_DISABLED;
  // @authenticated / @requiresScopes: enforced here (the stock gateway refuses to load them at all).
  const { gatewaySdl, byCoordinate: policies } = readPolicies(supergraphSdl);
  const gateway = new ApolloGateway({
    supergraphSdl: gatewaySdl,
    buildService: ({ name, url }) => {
      return subgraphs.dataSource(name, subgraphUrl(config, name, url!), (fetcher) => instrumentFetcher(fetcher, name, fetchMetrics));
    },
  });

  let apiSchema: GraphQLSchema | undefined;
  gateway.onSchemaLoadOrUpdate(({ apiSchema: loaded }) => {
    apiSchema = loaded;
  });

  const isProduction = config.NODE_ENV === 'production';
  const redis = createGatewayRedis(config.REDIS_URL, log);

  /*
   * The edge, in order. Each concern lives in its own file and contributes HTTP middleware (runs on
   * /graphql before Apollo, after the body is parsed) and/or Apollo plugins (run inside the request
   * pipeline, after parsing and validation).
   */
  const edgeMiddleware: express.RequestHandler[] = [];
  const plugins: ApolloServerPlugin<GatewayContext>[] = [];
  // Apollo Sandbox loads from a CDN: GraphiQL, bundled from npm, takes its place (GRAPHIQL).
  plugins.push(ApolloServerPluginLandingPageDisabled());
  // First: a request with no operation to run, or a NUL in a string, is refused before anything reads it.
  plugins.push(inputRulesPlugin<GatewayContext>());
  // Rate, errors and latency by operation and client, and the `request completed` log line.
  plugins.push(requestTelemetryPlugin<GatewayContext>({ metrics: observability.metrics, log, clientOf: (c) => c.client?.name, requestIdOf: (c) => c.requestId }));
  // Partner API keys first: everything after may rely on res.locals.client.
  const persisted = await createPersistedQueries(config, redis, log);
  edgeMiddleware.push(...persisted.middleware);
  plugins.push(...persisted.plugins);
  // Read-your-writes: hands back the consistency token when a subgraph reported writes.
  const consistency = createConsistency(config);
  plugins.push(consistency.plugin);
  // Limits: request rate (429 before Apollo runs), operation shape, partner cost budgets, logIn attempts.
  const limits = createLimits({ config, redis, auth, log, supergraphSdl });
  edgeMiddleware.push(...limits.middleware);
  plugins.push(...limits.plugins);

  const apollo = new ApolloServer<GatewayContext>({
    gateway: createAuthorizingGateway(gateway, policies),
    formatError: createErrorFormatter(log),
    includeStacktraceInErrorResponses: false,
    introspection: !isProduction,
    allowBatchedHttpRequests: false,
    validationRules: limits.validationRules,
    parseOptions: limits.parseOptions,
    csrfPrevention: true,
    persistedQueries: persisted.apq,
    plugins,
  });
  await apollo.start();

  const bus = createEventBus(config, log);
  const live = createLiveEvents(config, log);
  // WebSocket, multipart and SSE; the fields and their events come from the supergraph's @event.
  const subscriptions = createSubscriptions({
    config,
    supergraphSdl,
    apollo,
    schema: () => apiSchema,
    auth,
    bus,
    live,
    log,
    policies,
    // Partner keys and the safelist, as on HTTP.
    edge: persisted.socket,
    // The same operation limits, request counts and client address as HTTP.
    validationRules: limits.validationRules,
    parseOptions: limits.parseOptions,
    admit: limits.admitSocketOperation,
    clientIp: (req) => clientAddress(req, app.get('trust proxy fn') as TrustProxy),
  });

  observability.metrics.gauge('graphql_subscriptions_open', 'Subscriptions open in this process.', () => eventStreamStats.open);
  observability.metrics.gauge('websocket_connections_open', 'WebSocket connections open on this gateway.', () => subscriptions.clientCount());
  observability.metrics.gauge('http_subscription_streams_open', 'Subscriptions streamed over HTTP (multipart, SSE) on this gateway.', () => subscriptions.httpStreams());

  const app = express();
  // req.ip: which proxies may name the client in X-Forwarded-For (rate limits per IP; see TRUST_PROXY).
  app.set('trust proxy', config.TRUST_PROXY);
  app.disable('x-powered-by');
  app.use(requestIdMiddleware);
  app.use(...observability.middleware);
  const health = createHealth(createGatewayReadiness({ supergraphLoaded: () => apiSchema !== undefined, redis, subgraphs }));
  app.use(health.router);
  if (config.GRAPHIQL ? config.GRAPHIQL === 'true' : !isProduction) app.get('/graphql', createGraphiQL());
  app.use(
    '/graphql',
    express.json({ limit: config.BODY_LIMIT }),
    ...edgeMiddleware,
    subscriptions.http,
    expressMiddleware(apollo, {
      context: async ({ req, res }) => {
        const client: ClientInfo = res.locals.client ?? {
          name: req.header('apollographql-client-name') ?? null,
          version: req.header('apollographql-client-version') ?? null,
          partnerId: null,
        };
        try {
          return {
            // The rate limit already verified the token when there was one (and it was good).
            identity: (res.locals[VERIFIED_IDENTITY] as GatewayContext['identity'] | undefined) ?? (await auth.identify(req.header('authorization'))).identity,
            clientIp: req.ip,
            requestId: res.locals.requestId as string,
            client,
            consistency: consistency.fromRequest(req),
          };
        } catch (err) {
          // Apollo turns a context error into the response; 401 tells clients to sign in again.
          (err as { extensions?: Record<string, unknown> }).extensions!.http = { status: 401 };
          throw err;
        }
      },
    }),
  );
  app.use(jsonErrorHandler(log));

  return {
    app,
    log,
    metrics: observability.metrics,
    attach: (server) => subscriptions.attach(server),
    onDrain: health.drain,
    beforeDrain: () => subscriptions.close(),
    async stop() {
      await apollo.stop();
      subgraphs.close();
      await Promise.all([live.close(), bus.close(), redis?.quit()]);
    },
  };
}
