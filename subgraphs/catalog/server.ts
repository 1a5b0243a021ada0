import type { SubgraphConfig } from '../../platform/config.js';
import { createServiceBasics } from '../../platform/service.js';
import { createSubgraphServer } from '../../platform/subgraph-server.js';
import { schema } from './db/schema.js';
import { createInternalClient } from '../../platform/internal-rpc.js';
import { createInternalRoutes, orderEventHandlers } from './internal.js';
import { createReservationReaper } from './reservation-reaper.js';
import { createLoaders } from './loaders.js';
import { resolvers } from './resolvers/index.js';
import { typeDefs } from './schema.js';

export async function createCatalogServer(config: SubgraphConfig<'catalog'>) {
  const { log, database, verifier, signer, bus } = await createServiceBasics('catalog', config, schema);
  const reaper = createReservationReaper({
    database,
    orders: createInternalClient(config.ORDERS_URL, signer, { service: 'orders', timeoutMs: config.INTERNAL_CALL_TIMEOUT_MS }),
    ttlSeconds: config.RESERVATION_TTL_SECONDS,
    log,
  });
  return createSubgraphServer({
    name: 'catalog',
    typeDefs,
    resolvers,
    database,
    createLoaders,
    verifier,
    log,
    internalRoutes: createInternalRoutes(database, config.RESERVATION_TTL_SECONDS),
    events: {
      bus,
      produces: 'catalog',
      consumes: [{ stream: 'orders', handlers: orderEventHandlers }],
    },
    onStop: () => reaper.stop(),
  });
}
