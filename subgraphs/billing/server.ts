import type { SubgraphConfig } from '../../platform/config.js';
import { createInternalClient } from '../../platform/internal-rpc.js';
import { createServiceBasics, loadTypeDefs } from '../../platform/service.js';
import { createSubgraphServer } from '../../platform/subgraph-server.js';
import type { BillingDeps } from './context.js';
import { tables } from './db/tables.js';
import { createEventHandlers } from './events.js';
import { createLoaders } from './loaders.js';
import { createOrdersClient } from './orders-client.js';
import { createHttpProvider } from './payments/http-provider.js';
import type { PaymentProvider } from './payments/payment-provider.js';
import { createTestModeProvider } from './payments/test-mode.js';
import { startPaymentReconciler } from './reconciler.js';
import { createResolvers } from './resolvers/index.js';

/**
 * `provider` defaults to PAYMENT_PROVIDER_URL (a Stripe-shaped HTTP provider) or else the built-in
 * test mode; a real processor's adapter is passed here.
 */
export async function createBillingSubgraph(config: SubgraphConfig<'billing'>, opts: { provider?: PaymentProvider } = {}) {
  const { log, database, verifier, signer, bus } = await createServiceBasics('billing', config, tables);
  const provider =
    opts.provider ??
    (config.PAYMENT_PROVIDER_URL
      ? createHttpProvider(config.PAYMENT_PROVIDER_URL, config.PAYMENT_PROVIDER_TIMEOUT_MS)
      : createTestModeProvider());
  const deps: BillingDeps = {
    provider,
    orders: createOrdersClient(
      createInternalClient(config.ORDERS_URL, signer, { service: 'orders', timeoutMs: config.INTERNAL_CALL_TIMEOUT_MS }),
    ),
    killAfterChargeToken: config.NODE_ENV === 'test' ? config.FAULT_KILL_AFTER_CHARGE_TOKEN : undefined,
  };
  const reconciler = startPaymentReconciler({
    database,
    provider,
    log,
    afterMs: config.PAYMENT_RECONCILE_AFTER_MS,
    intervalMs: config.PAYMENT_RECONCILE_INTERVAL_MS,
  });
  return createSubgraphServer({
    name: 'billing',
    typeDefs: loadTypeDefs('billing'),
    resolvers: createResolvers(deps),
    database,
    createLoaders,
    verifier,
    log,
    idempotencyKeys: true,
    events: { bus, produces: 'billing', consumes: createEventHandlers(deps) },
    onStop: () => reconciler.stop(),
  });
}
