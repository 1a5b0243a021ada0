import type { InternalClient } from '../../platform/internal-rpc.js';
import type { SubgraphContext } from '../../platform/subgraph-server.js';
import type { OrdersTables } from './db/tables.js';
import type { OrdersLoaders } from './loaders.js';

export type OrdersContext = SubgraphContext<OrdersTables, OrdersLoaders>;

/**
 * What orders' parts need beyond the request context, built once per server: the one service it
 * sends commands to (catalog's internal routes); everything else goes through events.
 */
export interface OrdersDeps {
  catalog: InternalClient;
  /** Deadline of one call to catalog (INTERNAL_CALL_TIMEOUT_MS). */
  callTimeoutMs: number;
  /** Longest a placeOrder transaction may run before the database ends it (six times the call deadline, under the 60 s TTL). */
  transactionBoundMs: number;
}
