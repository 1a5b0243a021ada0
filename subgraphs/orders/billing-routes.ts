import { z } from 'zod';
import type { Database } from '../../platform/db.js';
import { defineInternalRoute } from '../../platform/internal-rpc.js';
import type { Tx } from '../../platform/idempotency.js';
import { enqueue } from '../../platform/events/outbox.js';
import { lockOrder, ordersByIds, orderStatusChanged, setStatus } from './db/queries.js';
import type { OrderRow, OrderStatus, OrdersSchema } from './db/schema.js';
import { orderNotFound } from './resolvers/access.js';

const orderInput = z.object({ orderId: z.uuid() });

/** Orders that have not left the warehouse: a refund of one cancels it (and its stock comes back). */
const UNSHIPPED: readonly OrderStatus[] = ['PENDING_PAYMENT', 'PAID'];

/**
 * Cancels an order in the caller's transaction: OrderCancelled, committed with the change, makes
 * catalog return the stock and billing void the invoice (or refund the payment that took it).
 */
export async function cancelInTx(tx: Tx, order: OrderRow): Promise<OrderRow> {
  const row = (await setStatus(tx, order.id, 'CANCELLED'))!;
  await enqueue(tx, { type: 'OrderCancelled', payload: { orderId: row.id, customerId: row.customerId } }, orderStatusChanged(row));
  return row;
}

/**
 * What billing asks orders, the authority on an order's state, before it moves money. Both
 * answer with the order's status after the call.
 */
export function createBillingRoutes(database: Database<OrdersSchema>) {
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
          const order = await lockOrder(tx as Tx, orderId);
          if (!order) throw orderNotFound(orderId);
          const after = UNSHIPPED.includes(order.status) ? await cancelInTx(tx as Tx, order) : order;
          return { status: after.status };
        }),
    }),
  ];
}
