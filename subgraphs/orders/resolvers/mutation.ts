import { requireAdmin, requireUser } from '../../../platform/auth/identity.js';
import { invalidState } from '../../../platform/errors.js';
import type { Tx } from '../../../platform/idempotency.js';
import { isId } from '../../../platform/validation.js';
import { enqueue } from '../../../platform/events/outbox.js';
import { lockOrder, moveStatus, orderStatusChanged, ordersByIds, setStatus } from '../db/queries.js';
import type { OrderRow, OrderStatus } from '../db/schema.js';
import type { OrdersContext, OrdersServices } from '../context.js';
import { orderNotFound, visibleOrder } from './access.js';
import { createPlaceOrder } from './place-order.js';

/** The admin moves of the state machine: target status -> the status it must come from. */
const ADMIN_MOVES: Partial<Record<OrderStatus, OrderStatus>> = { SHIPPED: 'PAID', DELIVERED: 'SHIPPED' };

function cannotCancel(order: OrderRow) {
  const message =
    order.status === 'CANCELLED'
      ? `Order ${order.number} is already cancelled.`
      : order.status === 'PAID'
        ? `Order ${order.number} is paid and can no longer be cancelled; refund its payment instead.`
        : `Order ${order.number} is ${order.status}; only an order awaiting payment can be cancelled.`;
  return invalidState(message, { status: order.status });
}

export function createMutationResolvers(services: OrdersServices) {
  return {
    Mutation: {
      placeOrder: createPlaceOrder(services),

      /**
       * The owner or an admin, only while PENDING_PAYMENT. OrderCancelled, committed with the change,
       * makes catalog give the stock back and billing void the invoice.
       */
      async cancelOrder(_: unknown, { id }: { id: string }, ctx: OrdersContext) {
        requireUser(ctx.identity);
        if (!isId(id)) throw orderNotFound(id);
        // The row lock makes "check PENDING_PAYMENT, then cancel" atomic against a concurrent payment.
        const cancelled = await ctx.db.write.transaction(async (tx) => {
          const order = visibleOrder(ctx.identity, await lockOrder(tx as Tx, id));
          if (!order) throw orderNotFound(id);
          if (order.status !== 'PENDING_PAYMENT') throw cannotCancel(order);
          const row = (await setStatus(tx as Tx, id, 'CANCELLED'))!;
          await enqueue(tx as Tx, { type: 'OrderCancelled', payload: { orderId: id, customerId: row.customerId } }, orderStatusChanged(row));
          return row;
        });
        return cancelled;
      },

      /** Admins only: PAID -> SHIPPED -> DELIVERED; every other move is INVALID_STATE. */
      async setOrderStatus(_: unknown, { id, status }: { id: string; status: OrderStatus }, ctx: OrdersContext) {
        requireAdmin(ctx.identity);
        if (!isId(id)) throw orderNotFound(id);
        const from = ADMIN_MOVES[status];
        // Conditional UPDATE: of two concurrent moves from the same status, only one matches.
        const moved = from
          ? await ctx.db.write.transaction(async (tx) => {
              const row = await moveStatus(tx as Tx, id, from, status);
              if (row) await enqueue(tx as Tx, orderStatusChanged(row));
              return row;
            })
          : undefined;
        if (moved) return moved;
        const [current] = await ordersByIds(ctx.db.write, [id]);
        if (!current) throw orderNotFound(id);
        const hint = status === 'CANCELLED' ? ' Use cancelOrder for an unpaid order.' : '';
        throw invalidState(
          `Order ${current.number} is ${current.status} and cannot move to ${status}; orders move PAID -> SHIPPED -> DELIVERED.${hint}`,
          { status: current.status },
        );
      },
    },
  };
}
