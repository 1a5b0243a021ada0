import type { SubgraphConfig } from '../../platform/config.js';
import { createInternalClient } from '../../platform/internal-rpc.js';
import { createServiceBasics, loadTypeDefs } from '../../platform/service.js';
import { createSubgraphServer } from '../../platform/subgraph-server.js';
import type { CatalogDeps } from './context.js';
import { tables } from './db/tables.js';
import { createEventHandlers } from './events.js';
import { createInternalRoutes } from './internal.js';
import { createLoaders } from './loaders.js';
import { createReservationReaper } from './reservation-reaper.js';
import { createResolvers } from './resolvers/index.js';

export async function createCatalogSubgraph(config: SubgraphConfig<'catalog'>) {
  const { log, database, verifier, signer, bus } = await createServiceBasics('catalog', config, tables);
  const deps: CatalogDeps = { reservationTtlSeconds: config.RESERVATION_TTL_SECONDS };
  const reaper = createReservationReaper({
    database,
    orders: createInternalClient(config.ORDERS_URL, signer, { service: 'orders', timeoutMs: config.INTERNAL_CALL_TIMEOUT_MS }),
    ttlSeconds: deps.reservationTtlSeconds,
    log,
  });
  return createSubgraphServer({
    name: 'catalog',
    typeDefs: loadTypeDefs('catalog'),
    resolvers: createResolvers(),
    database,
    createLoaders,
    verifier,
    log,
    internalRoutes: createInternalRoutes(database, deps),
    events: { bus, produces: 'catalog', consumes: createEventHandlers() },
    onStop: () => reaper.stop(),
  });
}
