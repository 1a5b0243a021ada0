import type { SubgraphConfig } from '../../platform/config.js';
import { createServiceBasics } from '../../platform/service.js';
import { createSubgraphServer } from '../../platform/subgraph-server.js';
import { schema } from './db/schema.js';
import { createInternalRoutes, releaseStock } from './internal.js';
import { createLoaders } from './loaders.js';
import { resolvers } from './resolvers/index.js';
import { typeDefs } from './schema.js';

export async function createCatalogServer(config: SubgraphConfig<'catalog'>) {
  const { log, database, verifier, bus } = await createServiceBasics('catalog', config, schema);
  return createSubgraphServer({
    name: 'catalog',
    typeDefs,
    resolvers,
    database,
    createLoaders,
    verifier,
    log,
    internalRoutes: createInternalRoutes(database),
    events: {
      bus,
      produces: 'catalog',
      // A cancelled order's reserved units go back on the shelf (idempotent per reservation).
      consumes: [{ stream: 'orders', handlers: { OrderCancelled: (tx, { orderId }) => releaseStock(tx, orderId).then(() => {}) } }],
    },
  });
}
