import type { InternalClient } from '../../platform/internal-rpc.js';
import type { SubgraphContext } from '../../platform/subgraph-server.js';
import type { OrdersSchema } from './db/schema.js';
import type { OrdersLoaders } from './loaders.js';

export type OrdersContext = SubgraphContext<OrdersSchema, OrdersLoaders>;

/** The services the orders resolvers send commands to (internal routes); everything else goes through events. */
export interface OrdersServices {
  catalog: InternalClient;
  /** Deadline of one call to catalog (INTERNAL_CALL_TIMEOUT_MS). */
  callTimeoutMs: number;
  /** Longest a placeOrder transaction may run before the database ends it (six times the call deadline, under the 60 s TTL). */
  transactionBoundMs: number;
}
