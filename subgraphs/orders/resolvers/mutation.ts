import { isAdmin, requireAdmin, requireUser } from '../../../platform/auth/identity.js';
import { invalidState } from '../../../platform/errors.js';
import { isId } from '../../../platform/validation.js';
import { enqueue } from '../../../platform/events/outbox.js';
import { cancelOrderInTx } from '../cancellation.js';
import { lockOrder, moveStatus, orderStatusChanged, ordersByIds } from '../db/queries.js';
import type { OrderRow, OrderStatus } from '../db/tables.js';
import type { OrdersDeps } from '../context.js';
import type { Resolvers } from '../generated/resolvers.js';
import { mayCancel, orderNotFound, visibleOrder } from './access.js';
import { createPlaceOrder } from './place-order.js';

/** The admin moves of the state machine: target status -> the status it must come from. */
const ADMIN_MOVES: Partial<Record<OrderStatus, OrderStatus>> = { SHIPPED: 'PAID', DELIVERED: 'SHIPPED' };

function cannotCancel(order: OrderRow, admin: boolean) {
  const message =
    order.status === 'CANCELLED'
      ? `Order ${order.number} is already cancelled.`
      : order.status === 'PAID' && !admin
        ? `Order ${order.number} is paid and can no longer be cancelled; refund its payment instead.`
        : `Order ${order.number} is ${order.status}; only an order not yet shipped can be cancelled.`;
  return invalidState(message, { status: order.status });
}

export function createMutationResolvers(deps: OrdersDeps): Resolvers {
  return {
    Mutation: {
      placeOrder: createPlaceOrder(deps),

      /**
       * The owner while PENDING_PAYMENT, an admin until SHIPPED. OrderCancelled, committed with the
       * change, makes catalog give the stock back and billing void the invoice, or refund it when
       * it was paid (an admin cancelling a paid order, or a payment that won the race).
       */
      async cancelOrder(_, { id }, ctx) {
        requireUser(ctx.identity);
        if (!isId(id)) throw orderNotFound(id);
        const admin = isAdmin(ctx.identity);
        // The row lock makes "check the status, then cancel" atomic against a payment or a shipment.
        return ctx.db.write.transaction(async (tx) => {
          const order = visibleOrder(ctx.identity, await lockOrder(tx, id));
          if (!order) throw orderNotFound(id);
          if (!mayCancel(order, admin)) throw cannotCancel(order, admin);
          return cancelOrderInTx(tx, order);
        });
      },

      /** Admins only: PAID -> SHIPPED -> DELIVERED; every other move is INVALID_STATE. */
      async setOrderStatus(_, { id, status }, ctx) {
        requireAdmin(ctx.identity);
        if (!isId(id)) throw orderNotFound(id);
        const from = ADMIN_MOVES[status];
        // Conditional UPDATE: of two concurrent moves from the same status, only one matches.
        const moved = from
          ? await ctx.db.write.transaction(async (tx) => {
              const row = await moveStatus(tx, id, from, status);
              if (row) await enqueue(tx, orderStatusChanged(row));
              return row;
            })
          : undefined;
        if (moved) return moved;
        const [current] = await ordersByIds(ctx.db.write, [id]);
        if (!current) throw orderNotFound(id);
        const hint = status === 'CANCELLED' ? ' Use cancelOrder, or refundPayment for a paid order.' : '';
        throw invalidState(
          `Order ${current.number} is ${current.status} and cannot move to ${status}; orders move PAID -> SHIPPED -> DELIVERED.${hint}`,
          { status: current.status },
        );
      },
    },
  };
}
