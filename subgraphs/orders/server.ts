import type { SubgraphConfig } from '../../platform/config.js';
import { createInternalClient } from '../../platform/internal-rpc.js';
import { createServiceBasics, loadTypeDefs } from '../../platform/service.js';
import { createSubgraphServer } from '../../platform/subgraph-server.js';
import type { OrdersDeps } from './context.js';
import { tables } from './db/tables.js';
import { createEventHandlers } from './events.js';
import { createInternalRoutes } from './internal.js';
import { createLoaders } from './loaders.js';
import { createResolvers } from './resolvers/index.js';

export async function createOrdersSubgraph(config: SubgraphConfig<'orders'>) {
  const { log, database, verifier, signer, bus } = await createServiceBasics('orders', config, tables);
  // Stock is reserved synchronously (the order needs the answer); everything else travels as events.
  const callTimeoutMs = config.INTERNAL_CALL_TIMEOUT_MS;
  const deps: OrdersDeps = {
    catalog: createInternalClient(config.CATALOG_URL, signer, { service: 'catalog', timeoutMs: callTimeoutMs }),
    callTimeoutMs,
    transactionBoundMs: 6 * callTimeoutMs,
  };
  return createSubgraphServer({
    name: 'orders',
    typeDefs: loadTypeDefs('orders'),
    resolvers: createResolvers(deps),
    database,
    createLoaders,
    verifier,
    log,
    idempotencyKeys: true,
    internalRoutes: createInternalRoutes(database),
    events: { bus, produces: 'orders', consumes: createEventHandlers() },
  });
}
