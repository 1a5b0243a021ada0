import express from 'express';
import { redisDetails, registerRedisMetrics } from './redis-guard.js';
import type { RequestListener } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from './resolver-map.js';
import type { DocumentNode } from 'graphql';
import type { Identity } from './auth/identity.js';
import { INTERNAL_TOKEN_HEADER } from './auth/service-token.js';
import type { ServiceTokenVerifier } from './auth/service-token.js';
import { RequestDb } from './db.js';
import type { Database } from './db.js';
import { createErrorFormatter } from './errors.js';
import { createServiceApp } from './http.js';
import { createInternalRouter } from './internal-rpc.js';
import type { InternalRoute } from './internal-rpc.js';
import { requestedLsn, writesReport } from './consistency.js';
import { CONSISTENCY_LSN_HEADER } from './lsn.js';
import { createApolloLogger } from './logger.js';
import type { Logger } from './logger.js';
import type { RunnableService } from './run-service.js';
import { observeBatches } from './loaders.js';
import { createServiceObservability } from './observability/index.js';
import type { ServiceMetrics } from './observability/index.js';
import { requestScope } from './request-scope.js';
import { startSubgraphBackgroundWork } from './subgraph-events.js';
import type { SubgraphEventsOptions } from './subgraph-events.js';
import { createGraphqlHandler, routeGraphql, sendError } from './subgraph-http.js';
import { subgraphPlugins } from './subgraph-plugins.js';

export interface SubgraphContext<S extends Record<string, unknown>, L> {
  identity: Identity;
  /** The service that sent the request: normally "gateway". */
  caller: string;
  db: RequestDb<S>;
  loaders: L;
  requestId: string;
  log: Logger;
}

/**
 * A subgraph's resolver map. It is typed where it is written, by the subgraph's generated
 * `Resolvers` (from its own SDL); here it is only handed on to buildSubgraphSchema, whose
 * GraphQLResolverMap cannot express __resolveReference's (reference, context, info) signature.
 */
export type SubgraphResolvers = Readonly<Record<string, object | undefined>>;

export interface SubgraphServerOptions<S extends Record<string, unknown>, L> {
  name: string;
  typeDefs: DocumentNode;
  resolvers: SubgraphResolvers;
  database: Database<S>;
  /** Fresh per request, so batches and caches never cross users. */
  createLoaders: (db: RequestDb<S>) => L;
  verifier: ServiceTokenVerifier;
  log: Logger;
  internalRoutes?: InternalRoute[];
  /** Extra public HTTP routes (e.g. the users service's JWKS document). */
  routes?: express.Router;
  /** Events: the stream this service's outbox feeds, and the streams it consumes. */
  events?: SubgraphEventsOptions;
  /** This service keeps idempotency keys (pruned after their retention window). */
  idempotencyKeys?: boolean;
  /** Extra work on shutdown (timers, clients). */
  onStop?: () => Promise<void>;
}

export interface SubgraphServer extends RunnableService {
  apollo: ApolloServer<never>;
  log: Logger;
}

/**
 * Builds (does not listen) a subgraph: GraphQL on /graphql behind service tokens (plain node:http,
 * subgraph-http.ts), and on express everything else: health, internal routes, extra routes.
 * Background work (outbox relay, consumers, housekeeping) is subgraph-events.ts.
 */
export async function createSubgraphServer<S extends Record<string, unknown>, L>(
  opts: SubgraphServerOptions<S, L>,
): Promise<SubgraphServer> {
  const { log } = opts;
  const database: Database<Record<string, unknown>> = opts.database;
  const { metrics, middleware } = createServiceObservability(opts.name);
  opts.database.telemetry.register(metrics.registry);
  const background = startSubgraphBackgroundWork({
    name: opts.name,
    database,
    events: opts.events,
    idempotencyKeys: opts.idempotencyKeys ?? false,
    metrics,
    log,
  });
  const apollo = createSubgraphApollo(opts, metrics, () => background.kick());
  const redisStatus = () => opts.events?.bus.redisStatus?.() ?? [];
  await apollo.start();

  const { app, health, finish } = createServiceApp({
    middleware,
    log,
    // Ready when the primary database answers; Redis is a detail (events wait in the outbox, no request path waits on it).
    readiness: async () => {
      const db = await database.ping();
      return { ready: db.primary, details: { database: db, redis: redisDetails(redisStatus()) } };
    },
  });
  registerRedisMetrics(metrics.registry, redisStatus);
  if (opts.routes) app.use(opts.routes);
  app.use(express.json({ limit: '2mb' }));
  if (opts.internalRoutes?.length) {
    app.use(
      '/internal',
      createInternalRouter(
        opts.internalRoutes,
        opts.verifier,
        log,
        () => background.kick(),
        () => writesReport(opts.name, database),
      ),
    );
  }
  finish();

  return {
    app,
    handler: routeGraphql(createSubgraphGraphql(opts, apollo, metrics), app),
    log,
    metrics,
    onDrain: () => health.drain(),
    apollo: apollo as unknown as ApolloServer<never>,
    async stop() {
      await apollo.stop();
      await background.stop();
      await opts.onStop?.();
      await database.close();
    },
  };
}

/** The subgraph's Apollo Server (not started): its schema, error formatting and plugins. */
function createSubgraphApollo<S extends Record<string, unknown>, L>(
  opts: SubgraphServerOptions<S, L>,
  metrics: ServiceMetrics,
  afterMutation: () => void,
): ApolloServer<SubgraphContext<S, L>> {
  const { log } = opts;
  const database: Database<Record<string, unknown>> = opts.database;
  return new ApolloServer<SubgraphContext<S, L>>({
    schema: buildSubgraphSchema([{ typeDefs: opts.typeDefs, resolvers: opts.resolvers as GraphQLResolverMap<unknown> }]),
    logger: createApolloLogger(log),
    formatError: createErrorFormatter(log),
    includeStacktraceInErrorResponses: false,
    // Only the gateway talks to a subgraph, and it loads the committed supergraph, never introspection.
    introspection: false,
    allowBatchedHttpRequests: false,
    plugins: subgraphPlugins<SubgraphContext<S, L>>({ name: opts.name, database, metrics, log, afterMutation }),
  });
}

/** /graphql: the caller's service token, then a context of its identity, a request database and fresh loaders. */
function createSubgraphGraphql<S extends Record<string, unknown>, L>(
  opts: SubgraphServerOptions<S, L>,
  apollo: ApolloServer<SubgraphContext<S, L>>,
  metrics: ServiceMetrics,
): RequestListener {
  const observeBatch = (loader: string, size: number) => metrics.loaderBatchSize.observe({ loader }, size);
  return createGraphqlHandler<SubgraphContext<S, L>>({
    service: opts.name,
    apollo,
    log: opts.log,
    scope: (requestId, next) => requestScope.run({ requestId }, next),
    async context(req, res, requestId) {
      // Identity is only ever taken from a token a trusted service signed; headers a client sets are ignored.
      const token = req.headers[INTERNAL_TOKEN_HEADER];
      const caller = await opts.verifier.verify(typeof token === 'string' ? token : undefined);
      if (!caller) {
        sendError(res, 401, 'This service only accepts requests from the gateway.', 'UNAUTHENTICATED');
        return undefined;
      }
      // Read-your-writes: a position the client has seen written here (forwarded by the gateway).
      const lsn = req.headers[CONSISTENCY_LSN_HEADER];
      const db = new RequestDb(opts.database, requestedLsn(typeof lsn === 'string' ? lsn : undefined));
      return {
        identity: caller.identity,
        caller: caller.service,
        db,
        loaders: observeBatches(opts.createLoaders(db), observeBatch),
        requestId,
        log: opts.log,
      };
    },
  });
}
