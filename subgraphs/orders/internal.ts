import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Database } from '../../platform/db.js';
import type { Tx } from '../../platform/idempotency.js';
import { defineInternalRoute } from '../../platform/internal-rpc.js';
import { lockOrderIdsShared, ordersByIds } from './db/queries.js';
import type { OrdersSchema } from './db/schema.js';

/**
 * How long an order-holds check waits for a placeOrder transaction still running on one of the
 * ids; past it the check fails and catalog asks again later (the answer must be final, never a guess).
 */
const HOLDS_LOCK_TIMEOUT_MS = 2_000;

export interface OrderHold {
  orderId: string;
  /** True: a live (not cancelled) order holds the reservation. False: no order does, now or ever. */
  holds: boolean;
}

/**
 * Questions other services ask orders, the authority on which orders exist. Catalog asks before it
 * releases a reservation no order has confirmed: each answer is final because it is given only
 * after any placeOrder transaction for that id has ended (placeOrder holds the id's advisory lock
 * from before it reserves until it commits or rolls back; an order id is never reused).
 */
export function createOrdersInternalRoutes(database: Database<OrdersSchema>) {
  return [
    defineInternalRoute({
      path: '/order-holds',
      callers: ['catalog'],
      input: z.object({ orderIds: z.array(z.uuid()).min(1).max(100) }),
      handler: ({ orderIds }) =>
        database.primary.transaction(async (tx): Promise<{ orders: OrderHold[] }> => {
          await tx.execute(sql`select set_config('lock_timeout', ${`${HOLDS_LOCK_TIMEOUT_MS}ms`}, true)`);
          await lockOrderIdsShared(tx as Tx, orderIds);
          const found = new Map((await ordersByIds(tx as Tx, orderIds)).map((o) => [o.id, o.status]));
          return { orders: orderIds.map((orderId) => ({ orderId, holds: found.has(orderId) && found.get(orderId) !== 'CANCELLED' })) };
        }),
    }),
  ];
}
