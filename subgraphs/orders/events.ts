import type { ConsumedStream } from '../../platform/events/consumer.js';
import { enqueue } from '../../platform/events/outbox.js';
import { markRefunded, moveStatus, orderStatusChanged } from './db/queries.js';

/**
 * What orders does when billing reports something. A paid invoice moves its order
 * PENDING_PAYMENT -> PAID; an order cancelled meanwhile stays cancelled (billing refunds that
 * payment when it sees the cancellation), and a redelivered event finds nothing left to move.
 */
export function createEventHandlers(): ConsumedStream[] {
  return [
    {
      stream: 'billing',
      handlers: {
        InvoicePaid: async (tx, { orderId }) => {
          const moved = await moveStatus(tx, orderId, 'PENDING_PAYMENT', 'PAID');
          if (moved) await enqueue(tx, orderStatusChanged(moved));
        },
        /**
         * A refund marks its order refunded and nothing else: an unshipped order was cancelled by
         * orders before billing refunded it (/cancel-for-refund), a shipped one keeps its status.
         */
        PaymentRefunded: async (tx, { orderId }) => {
          await markRefunded(tx, orderId);
        },
      },
    },
  ];
}
