import express from 'express';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginCacheControl } from '@apollo/server/plugin/cacheControl';
import { expressMiddleware } from '@as-integrations/express5';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from './resolver-map.js';
import type { DocumentNode } from 'graphql';
import type { Identity } from './auth/identity.js';
import { INTERNAL_TOKEN_HEADER } from './auth/service-token.js';
import type { ServiceTokenVerifier } from './auth/service-token.js';
import { RequestDb } from './db.js';
import type { Database } from './db.js';
import { createErrorFormatter } from './errors.js';
import { inputRulesPlugin } from './input-rules.js';
import { createHealth, jsonErrorHandler, requestIdMiddleware } from './http.js';
import { createInternalRouter } from './internal-rpc.js';
import { consistencyPlugin, requestedLsn, writesReport } from './consistency.js';
import { CONSISTENCY_LSN_HEADER } from './lsn.js';
import type { InternalRoute } from './internal-rpc.js';
import type { Logger } from './logger.js';
import type { RunnableService } from './run-service.js';
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { EventBus } from './events/bus.js';
import { startConsumer } from './events/consumer.js';
import type { EventHandlers } from './events/consumer.js';
import { createOutboxRelay, pruneOutbox } from './events/outbox.js';
import { pruneIdempotencyKeys } from './idempotency.js';
import { withBatchObserver } from './loaders.js';
import { createServiceObservability, registerEventMetrics, requestTelemetryPlugin } from './observability/index.js';
import type { StreamName } from './events/types.js';

export interface SubgraphContext<S extends Record<string, unknown>, L> {
  identity: Identity;
  /** The service that sent the request: normally "gateway". */
  caller: string;
  db: RequestDb<S>;
  loaders: L;
  requestId: string;
  log: Logger;
}

export type Resolvers<C> = GraphQLResolverMap<C>;

export interface SubgraphServerOptions<S extends Record<string, unknown>, L> {
  name: string;
  typeDefs: DocumentNode;
  resolvers: Resolvers<SubgraphContext<S, L>>;
  database: Database<S>;
  /** Fresh per request, so batches and caches never cross users. */
  createLoaders: (db: RequestDb<S>) => L;
  verifier: ServiceTokenVerifier;
  log: Logger;
  internalRoutes?: InternalRoute[];
  /** Extra public HTTP routes (e.g. the users service's JWKS document). */
  routes?: express.Router;
  /** Events: the stream this service's outbox feeds, and the streams it consumes. */
  events?: {
    bus: EventBus;
    produces?: StreamName;
    consumes?: { stream: StreamName; handlers: EventHandlers }[];
  };
  /** This service keeps idempotency keys (pruned after their retention window). */
  idempotencyKeys?: boolean;
  /** Extra work on shutdown (timers, clients). */
  onStop?: () => Promise<void>;
}

export interface SubgraphServer extends RunnableService {
  apollo: ApolloServer<never>;
  log: Logger;
}

/** Builds (does not listen) a subgraph: GraphQL on /graphql behind service tokens, health, internal routes. */
export async function createSubgraphServer<S extends Record<string, unknown>, L>(
  opts: SubgraphServerOptions<S, L>,
): Promise<SubgraphServer> {
  const { log, database } = opts;
  const events = opts.events;
  const relay = events?.produces
    ? createOutboxRelay({ database: database, bus: events.bus, stream: events.produces, log })
    : undefined;
  // A unique consumer name per process: after a crash, the next process reclaims what this one left pending.
  const consumerName = `${opts.name}-${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const consumers = (events?.consumes ?? []).map((c) =>
    startConsumer({
      bus: events!.bus,
      database: database,
      stream: c.stream,
      group: opts.name,
      consumer: consumerName,
      handlers: c.handlers,
      log,
      afterCommit: () => relay?.kick(),
    }),
  );
  // Hourly housekeeping on the background pool: expired idempotency keys, and outbox rows long
  // since relayed (the stream keeps its own window; a week of rows is enough to investigate).
  const housekeeping = setInterval(() => {
    if (opts.idempotencyKeys) {
      void pruneIdempotencyKeys(database.background as never).catch((err) => log.warn({ err }, 'pruning idempotency keys failed'));
    }
    if (events?.produces) {
      // Never inside the bus's retention window: the relay republishes from these rows when Redis loses some.
      void pruneOutbox(database as never, Math.max(7 * 24 * 3_600_000, 2 * events.bus.settings.retentionMs)).catch((err) => log.warn({ err }, 'pruning the outbox failed'));
    }
  }, 3_600_000);
  housekeeping.unref();

  // Metrics of this instance: requests, SQL and pool (the database's), loader batches, event backlog and lag.
  const observability = createServiceObservability(opts.name);
  const { metrics } = observability;
  database.telemetry.register(metrics.registry);
  if (events) {
    const consumes = (events.consumes ?? []).map((c) => c.stream);
    registerEventMetrics(metrics, { database: database, bus: events.bus, consumes, group: opts.name, log, ...(events.produces ? { produces: events.produces } : {}) });
  }
  const observeBatch = (loader: string, size: number) => metrics.loaderBatchSize.observe({ loader }, size);
  const apollo = new ApolloServer<SubgraphContext<S, L>>({
    schema: buildSubgraphSchema([{ typeDefs: opts.typeDefs, resolvers: opts.resolvers as GraphQLResolverMap<unknown> }]),
    formatError: createErrorFormatter(log),
    includeStacktraceInErrorResponses: false,
    // Only the gateway talks to a subgraph, and it loads the committed supergraph, never introspection.
    introspection: false,
    allowBatchedHttpRequests: false,
    plugins: [
      // The same request rules as the gateway's (NUL in strings), for any caller that reaches a subgraph.
      inputRulesPlugin<SubgraphContext<S, L>>(),
      consistencyPlugin(opts.name, database),
      requestTelemetryPlugin<SubgraphContext<S, L>>({ metrics, log, clientOf: (c) => c.caller, requestIdOf: (c) => c.requestId }),
      ApolloServerPluginInlineTraceDisabled(),
      // Apollo's default, spelled out because the gateway depends on it: the @cacheControl hints in the
      // SDL become this response's Cache-Control header (no hint = maxAge 0 = no-store), and the
      // gateway keeps the strictest header of all subgraphs it called.
      ApolloServerPluginCacheControl({ calculateHttpHeaders: true, defaultMaxAge: 0 }),
      ApolloServerPluginLandingPageDisabled(),
      {
        async requestDidStart() {
          return {
            async didResolveOperation({ operation, contextValue }) {
              if (operation?.operation === 'mutation') contextValue.db.useWriteMode();
            },
            // A mutation may have committed outbox rows: publish them now rather than at the next poll.
            async willSendResponse({ operation }) {
              if (operation?.operation === 'mutation') relay?.kick();
            },
          };
        },
      },
    ],
  });
  await apollo.start();

  const app = express();
  app.disable('x-powered-by');
  app.use(requestIdMiddleware);
  app.use(...observability.middleware);
  const health = createHealth(async () => {
    const db = await database.ping();
    return { ready: db.primary, details: { database: db } };
  });
  app.use(health.router);
  if (opts.routes) app.use(opts.routes);
  app.use(express.json({ limit: '2mb' }));
  if (opts.internalRoutes?.length) {
    app.use('/internal', createInternalRouter(opts.internalRoutes, opts.verifier, log, () => relay?.kick(), () => writesReport(opts.name, database)));
  }
  app.use(
    '/graphql',
    async (req, res, next) => {
      // Identity is only ever taken from a token a trusted service signed; headers a client sets are ignored.
      const caller = await opts.verifier.verify(req.header(INTERNAL_TOKEN_HEADER));
      if (!caller) {
        return void res.status(401).json({ errors: [{ message: 'This service only accepts requests from the gateway.', extensions: { code: 'UNAUTHENTICATED' } }] });
      }
      res.locals.caller = caller;
      next();
    },
    expressMiddleware(apollo, {
      context: async ({ req, res }) => {
        // Read-your-writes: a position the client has seen written here (forwarded by the gateway).
        const db = new RequestDb(database, requestedLsn(req.header(CONSISTENCY_LSN_HEADER)));
        return {
          identity: res.locals.caller.identity,
          caller: res.locals.caller.service,
          db,
          loaders: withBatchObserver(observeBatch, () => opts.createLoaders(db)),
          requestId: res.locals.requestId,
          log,
        };
      },
    }),
  );
  app.use(jsonErrorHandler(log));

  return {
    app,
    log,
    metrics,
    onDrain: health.drain,
    apollo: apollo as unknown as ApolloServer<never>,
    async stop() {
      await apollo.stop();
      await Promise.all(consumers.map((c) => c.stop()));
      clearInterval(housekeeping);
      await relay?.stop();
      await events?.bus.close();
      await opts.onStop?.();
      await database.close();
    },
  };
}
