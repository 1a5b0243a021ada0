import type { SubgraphConfig } from '../../platform/config.js';
import { createInternalClient } from '../../platform/internal-rpc.js';
import { createServiceBasics } from '../../platform/service.js';
import { createSubgraphServer } from '../../platform/subgraph-server.js';
import { schema } from './db/schema.js';
import { billingEventHandlers } from './events.js';
import { createOrdersInternalRoutes } from './internal.js';
import { createLoaders } from './loaders.js';
import { createResolvers } from './resolvers/index.js';
import { typeDefs } from './schema.js';

export async function createOrdersServer(config: SubgraphConfig<'orders'>) {
  const { log, database, verifier, signer, bus } = await createServiceBasics('orders', config, schema);
  // Stock is reserved synchronously (the order needs the answer); everything else travels as events.
  const callTimeoutMs = config.INTERNAL_CALL_TIMEOUT_MS;
  const services = {
    catalog: createInternalClient(config.CATALOG_URL, signer, { service: 'catalog', timeoutMs: callTimeoutMs }),
    callTimeoutMs,
    transactionBoundMs: 6 * callTimeoutMs,
  };
  return createSubgraphServer({
    name: 'orders',
    typeDefs,
    resolvers: createResolvers(services),
    database,
    createLoaders,
    verifier,
    log,
    idempotencyKeys: true,
    internalRoutes: createOrdersInternalRoutes(database),
    events: { bus, produces: 'orders', consumes: [{ stream: 'billing', handlers: billingEventHandlers }] },
  });
}
