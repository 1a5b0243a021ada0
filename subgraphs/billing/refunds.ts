import { enqueue } from '../../platform/events/outbox.js';
import type { Tx } from '../../platform/idempotency.js';
import { invoiceStatusChanged, lockInvoice, markPaymentRefunded, setInvoiceStatus } from './db/queries.js';
import type { PaymentRow } from './db/tables.js';
import type { PaymentProvider } from './payments/payment-provider.js';

/**
 * Refunds a SUCCEEDED payment in full: the processor first, then the payment and its invoice become
 * REFUNDED and PaymentRefunded is written in the same transaction. Billing owns both rows, so the
 * invoice changes with the payment rather than a moment later through its own event.
 */
export async function refundPayment(tx: Tx, provider: PaymentProvider, payment: PaymentRow): Promise<void> {
  const invoice = await lockInvoice(tx, payment.invoiceId);
  if (!invoice) throw new Error(`payment ${payment.id} has no invoice`);
  // Keyed by the payment: the admin's refund and the auto-refund on OrderCancelled, or a retry after
  // a crash before this transaction committed, all return the money once.
  const refund = await provider.refund({
    reference: payment.providerRef!,
    amountCents: payment.amountCents,
    currency: payment.currency,
    idempotencyKey: `refund:${payment.id}`,
  });
  await markPaymentRefunded(tx, payment.id, refund.reference);
  await setInvoiceStatus(tx, invoice.id, 'REFUNDED');
  await enqueue(
    tx,
    {
      type: 'PaymentRefunded',
      payload: { paymentId: payment.id, invoiceId: invoice.id, orderId: invoice.orderId, customerId: invoice.customerId },
    },
    invoiceStatusChanged(invoice, 'REFUNDED'),
  );
}
