import { GraphQLError } from 'graphql';
import { ErrorCode, appError } from '../../platform/errors.js';
import type { InternalClient } from '../../platform/internal-rpc.js';

export type OrderStatus = 'PENDING_PAYMENT' | 'PAID' | 'SHIPPED' | 'DELIVERED' | 'CANCELLED';

/**
 * Billing's questions to orders, the authority on an order's state. Orders being unreachable is
 * SERVICE_UNAVAILABLE (retry with the same key; runIdempotent does not store it).
 */
export function createOrdersClient(client: InternalClient) {
  async function ask(path: string, orderId: string): Promise<OrderStatus> {
    try {
      return (await client.call<{ status: OrderStatus }>(path, { orderId })).status;
    } catch (err) {
      // A public error from orders (an order that does not exist) is a broken invariant here, not a client mistake.
      if (err instanceof GraphQLError)
        throw new Error(`orders answered ${path} for ${orderId} with ${String(err.extensions.code)}`, { cause: err });
      throw appError(ErrorCode.SERVICE_UNAVAILABLE, 'The orders service is unavailable; retry with the same idempotency key.');
    }
  }
  return {
    /** The order's status now (payInvoice asks before charging). */
    status: (orderId: string) => ask('/order-status', orderId),
    /** Cancels the order if it has not shipped; returns its status after (refundPayment asks first). */
    cancelForRefund: (orderId: string) => ask('/cancel-for-refund', orderId),
  };
}

export type OrdersClient = ReturnType<typeof createOrdersClient>;
