import type { RequestDb } from '../../platform/db.js';
import { createEntityLoader, createGroupLoader, createPageLoader } from '../../platform/loaders.js';
import { itemsOfOrders, ordersByIds, ordersOfCustomers } from './db/queries.js';
import type { CustomerOrdersArgs } from './db/queries.js';
import type { OrdersTables } from './db/tables.js';

export function createLoaders(db: RequestDb<OrdersTables>) {
  return {
    orderById: createEntityLoader(
      (ids: readonly string[]) => ordersByIds(db.read, ids),
      (o) => o.id,
    ),
    /** Order.items: every order of a batch in one statement, lines by position. */
    orderItems: createGroupLoader(
      (ids: readonly string[]) => itemsOfOrders(db.read, ids),
      (i) => i.orderId,
    ),
    /** User.orders: limit is first + 1 (the extra row says whether there is a next page). */
    customerOrders: createPageLoader(
      (ids: readonly string[], args: CustomerOrdersArgs) => ordersOfCustomers(db.read, ids, args),
      (o) => o.customerId,
    ),
  };
}

export type OrdersLoaders = ReturnType<typeof createLoaders>;
