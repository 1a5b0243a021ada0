import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Database } from '../../platform/db.js';
import { defineInternalRoute } from '../../platform/internal-rpc.js';
import { cancelOrderInTx } from './cancellation.js';
import { lockOrder, lockOrderIdsShared, ordersByIds } from './db/queries.js';
import type { OrderStatus, OrdersTables } from './db/tables.js';
import { orderNotFound } from './resolvers/access.js';

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
 * What orders serves to other services, the authority on which orders exist and in which state.
 *
 * Catalog asks before it
 * releases a reservation no order has confirmed: each answer is final because it is given only
 * after any placeOrder transaction for that id has ended (placeOrder holds the id's advisory lock
 * from before it reserves until it commits or rolls back; an order id is never reused).
 */
export function createInternalRoutes(database: Database<OrdersTables>) {
  return [...reservationRoutes(database), ...billingRoutes(database)];
}

function reservationRoutes(database: Database<OrdersTables>) {
  return [
    defineInternalRoute({
      path: '/order-holds',
      callers: ['catalog'],
      input: z.object({ orderIds: z.array(z.uuid()).min(1).max(100) }),
      handler: ({ orderIds }) =>
        database.primary.transaction(async (tx): Promise<{ orders: OrderHold[] }> => {
          await tx.execute(sql`select set_config('lock_timeout', ${`${HOLDS_LOCK_TIMEOUT_MS}ms`}, true)`);
          await lockOrderIdsShared(tx, orderIds);
          const found = new Map((await ordersByIds(tx, orderIds)).map((o) => [o.id, o.status]));
          return { orders: orderIds.map((orderId) => ({ orderId, holds: found.has(orderId) && found.get(orderId) !== 'CANCELLED' })) };
        }),
    }),
  ];
}

const orderInput = z.object({ orderId: z.uuid() });

/** Orders that have not left the warehouse: a refund of one cancels it (and its stock comes back). */
const UNSHIPPED: readonly OrderStatus[] = ['PENDING_PAYMENT', 'PAID'];

/**
 * What billing asks orders, the authority on an order's state, before it moves money. Both
 * answer with the order's status after the call.
 */
function billingRoutes(database: Database<OrdersTables>) {
  return [
    defineInternalRoute({
      path: '/order-status',
      callers: ['billing'],
      input: orderInput,
      /** Before charging: a cancelled order's invoice must not be paid. */
      async handler({ orderId }) {
        const [order] = await ordersByIds(database.primary, [orderId]);
        if (!order) throw orderNotFound(orderId);
        return { status: order.status };
      },
    }),
    defineInternalRoute({
      path: '/cancel-for-refund',
      callers: ['billing'],
      input: orderInput,
      /**
       * Before refunding: an unshipped order is cancelled under its row lock, so of "ship" and
       * "refund" exactly one wins. A shipped or delivered order is left as it is (billing then
       * refunds it as a "shipped, refunded" order); a cancelled one is already what a refund needs.
       */
      handler: ({ orderId }) =>
        database.primary.transaction(async (tx) => {
          const order = await lockOrder(tx, orderId);
          if (!order) throw orderNotFound(orderId);
          const after = UNSHIPPED.includes(order.status) ? await cancelOrderInTx(tx, order) : order;
          return { status: after.status };
        }),
    }),
  ];
}
