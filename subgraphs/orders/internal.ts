import { z } from 'zod';
import type { Database } from '../../platform/db.js';
import { invalidState, notFound } from '../../platform/errors.js';
import { defineInternalRoute } from '../../platform/internal-rpc.js';
import { isId } from '../../platform/validation.js';
import { moveStatus, ordersByIds } from './db/queries.js';
import type { OrdersSchema } from './db/schema.js';

/** Commands the billing service sends when an invoice is paid. */
export function createInternalRoutes(database: Database<OrdersSchema>) {
  return [
    defineInternalRoute({
      path: '/mark-order-paid',
      callers: ['billing'],
      input: z.object({ orderId: z.string() }),
      /** PENDING_PAYMENT -> PAID; a repeat (already PAID or later) answers the current status unchanged. */
      handler: async ({ orderId }) => {
        if (!isId(orderId)) throw notFound(`Order ${orderId} was not found.`, { orderId });
        const moved = await moveStatus(database.primary, orderId, 'PENDING_PAYMENT', 'PAID');
        if (moved) return { status: moved.status };
        const [current] = await ordersByIds(database.primary, [orderId]);
        if (!current) throw notFound(`Order ${orderId} was not found.`, { orderId });
        if (current.status === 'CANCELLED') {
          throw invalidState(`Order ${current.number} was cancelled and cannot be paid.`, { status: current.status });
        }
        return { status: current.status };
      },
    }),
  ];
}
