import { enqueue } from '../../platform/events/outbox.js';
import type { Tx } from '../../platform/idempotency.js';
import { orderStatusChanged, setStatus } from './db/queries.js';
import type { OrderRow } from './db/tables.js';

/**
 * Cancels an order in the caller's transaction (a customer's or admin's cancelOrder, billing's
 * /cancel-for-refund): OrderCancelled, committed with the change, makes catalog return the stock
 * and billing void the invoice (or refund the payment that took it).
 */
export async function cancelOrderInTx(tx: Tx, order: OrderRow): Promise<OrderRow> {
  const row = (await setStatus(tx, order.id, 'CANCELLED'))!;
  await enqueue(tx, { type: 'OrderCancelled', payload: { orderId: row.id, customerId: row.customerId } }, orderStatusChanged(row));
  return row;
}
