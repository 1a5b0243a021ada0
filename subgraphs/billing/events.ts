import type { ConsumedStream, EventHandlers } from '../../platform/events/consumer.js';
import { enqueue } from '../../platform/events/outbox.js';
import type { BillingDeps } from './context.js';
import { invoiceStatusChanged, invoicesByOrderIds, issueInvoice, succeededPaymentOf, voidOpenInvoice } from './db/queries.js';
import { refundPayment } from './refunds.js';

/** What billing does when orders reports something; each runs once per event, in the order's event order. */
export function createEventHandlers(deps: BillingDeps): ConsumedStream[] {
  return [{ stream: 'orders', handlers: orderHandlers(deps) }];
}

function orderHandlers({ provider }: BillingDeps): EventHandlers {
  return {
    /** Every placed order gets exactly one invoice for its total (the order id is unique). */
    OrderPlaced: async (tx, { orderId, customerId, totalCents, currency }) => {
      const invoice = await issueInvoice(tx, { orderId, customerId, amountCents: totalCents, currency });
      await enqueue(tx, invoiceStatusChanged(invoice, 'OPEN'));
    },
    /**
     * A cancelled order's open invoice is voided. If a payment won the race against the
     * cancellation (both committed, in different services), the money goes back: the payment is
     * refunded rather than leaving a paid invoice on a cancelled order.
     */
    OrderCancelled: async (tx, { orderId }) => {
      const voided = await voidOpenInvoice(tx, orderId);
      if (voided) {
        await enqueue(tx, invoiceStatusChanged(voided, 'VOID'));
        return;
      }
      const [invoice] = await invoicesByOrderIds(tx, [orderId]);
      // The consumer applies an order's events in order, so its invoice exists by now. Should it
      // not (an event relayed before sequencing), failing makes the cancel wait and retry rather
      // than count as done and leave the later invoice OPEN and payable.
      if (!invoice) throw new Error('order cancelled before its invoice was issued; retrying');
      if (invoice.status !== 'PAID') return;
      const payment = await succeededPaymentOf(tx, invoice.id);
      if (payment) await refundPayment(tx, provider, payment);
    },
  };
}
