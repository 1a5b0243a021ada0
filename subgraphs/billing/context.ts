import type { SubgraphContext } from '../../platform/subgraph-server.js';
import type { BillingTables } from './db/tables.js';
import type { BillingLoaders } from './loaders.js';
import type { ChargeDeps } from './charges.js';
import type { OrdersClient } from './orders-client.js';

export type BillingContext = SubgraphContext<BillingTables, BillingLoaders>;

/** What the resolvers need beyond the request context, built once per server. */
export interface BillingDeps extends ChargeDeps {
  orders: OrdersClient;
}
