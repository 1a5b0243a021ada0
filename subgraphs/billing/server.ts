import type { SubgraphConfig } from '../../platform/config.js';
import { createServiceBasics } from '../../platform/service.js';
import { createSubgraphServer } from '../../platform/subgraph-server.js';
import { schema } from './db/schema.js';
import { orderEventHandlers } from './events.js';
import { createLoaders } from './loaders.js';
import type { PaymentProvider } from './payments/payment-provider.js';
import { createTestModeProvider } from './payments/test-mode.js';
import { createResolvers } from './resolvers/index.js';
import { typeDefs } from './schema.js';

/** `provider` defaults to the built-in test mode; a real processor's adapter is passed here. */
export async function createBillingServer(config: SubgraphConfig<'billing'>, opts: { provider?: PaymentProvider } = {}) {
  const { log, database, verifier, bus } = await createServiceBasics('billing', config, schema);
  const deps = { provider: opts.provider ?? createTestModeProvider() };
  return createSubgraphServer({
    name: 'billing',
    typeDefs,
    resolvers: createResolvers(deps),
    database,
    createLoaders,
    verifier,
    log,
    idempotencyKeys: true,
    events: { bus, produces: 'billing', consumes: [{ stream: 'orders', handlers: orderEventHandlers(deps.provider) }] },
  });
}
