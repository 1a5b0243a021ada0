import { eq } from 'drizzle-orm';
import type { Db } from '../../platform/db.js';
import { ErrorCode, appError } from '../../platform/errors.js';
import { enqueue } from '../../platform/events/outbox.js';
import type { Tx } from '../../platform/idempotency.js';
import { invoiceStatusChanged, lockInvoice, lockPayment, setInvoiceStatus } from './db/queries.js';
import { payments } from './db/tables.js';
import type { BillingTables, PaymentRow } from './db/tables.js';
import type { ChargeResult, PaymentProvider } from './payments/payment-provider.js';
import { refundPayment } from './refunds.js';

/**
 * A charge in three steps, so no database transaction is open while the processor takes money:
 * 1. a PENDING payment carrying the processor idempotency key commits (payInvoice's checks hold),
 * 2. the processor is called with that key, outside any transaction,
 * 3. its outcome is recorded on the payment, once (settlePayment).
 * A crash after 2 leaves the payment PENDING: a client retry with the same key, or the reconciler
 * (which asks the processor by key), runs 2 and 3 again, and the processor answers the first
 * outcome instead of charging again.
 */
export interface ChargeDeps {
  provider: PaymentProvider;
  /** Test-only fault hook (config: FAULT_KILL_AFTER_CHARGE_TOKEN). */
  killAfterChargeToken?: string | undefined;
}

/** Steps 2 and 3 for a PENDING payment; returns the payment as it stands afterwards. */
export async function chargePending(db: Db<BillingTables>, deps: ChargeDeps, payment: PaymentRow, cardToken: string): Promise<PaymentRow> {
  let result: ChargeResult;
  try {
    result = await deps.provider.charge({
      amountCents: payment.amountCents,
      currency: payment.currency,
      cardToken,
      idempotencyKey: payment.providerKey!,
    });
  } catch {
    // Charged or not, we cannot tell: the payment stays PENDING for a retry or the reconciler.
    throw appError(ErrorCode.SERVICE_UNAVAILABLE, 'The payment provider did not answer; retry with the same idempotency key.', {
      paymentId: payment.id,
    });
  }
  // The crash a test injects: the processor has the money, billing has not recorded it.
  if (deps.killAfterChargeToken === cardToken && !result.replayed) process.kill(process.pid, 'SIGKILL');
  return settlePayment(db, deps.provider, payment.id, result);
}

/**
 * Step 3: records the processor's outcome on a PENDING payment; later callers (a retry racing the
 * reconciler) find it settled and change nothing. A success on an invoice voided meanwhile (its
 * order was cancelled while the charge ran) is refunded at once: a cancelled order never keeps money.
 */
export function settlePayment(
  db: Db<BillingTables>,
  provider: PaymentProvider,
  paymentId: string,
  result: ChargeResult,
): Promise<PaymentRow> {
  return db.transaction(async (tx) => {
    const payment = (await lockPayment(tx, paymentId))!;
    if (payment.status !== 'PENDING') return payment;
    const now = new Date();
    if (result.status === 'declined') {
      return update(tx, paymentId, { status: 'FAILED', method: result.method, failureReason: result.reason, updatedAt: now });
    }
    const succeeded = await update(tx, paymentId, {
      status: 'SUCCEEDED',
      method: result.method,
      providerRef: result.reference,
      updatedAt: now,
    });
    const invoice = (await lockInvoice(tx, payment.invoiceId))!;
    if (invoice.status !== 'OPEN') {
      await refundPayment(tx, provider, succeeded);
      return (await lockPayment(tx, paymentId))!;
    }
    await setInvoiceStatus(tx, invoice.id, 'PAID', now);
    // Committed with the payment: orders moves the order to PAID when it consumes InvoicePaid.
    await enqueue(
      tx,
      { type: 'InvoicePaid', payload: { invoiceId: invoice.id, orderId: invoice.orderId, customerId: invoice.customerId } },
      invoiceStatusChanged(invoice, 'PAID'),
    );
    return succeeded;
  });
}

async function update(tx: Tx, id: string, values: Partial<typeof payments.$inferInsert>): Promise<PaymentRow> {
  const [row] = await tx.update(payments).set(values).where(eq(payments.id, id)).returning();
  return row as PaymentRow;
}

/** The client's answer for a settled payment: a decline is PAYMENT_DECLINED (as on the first attempt). */
export function declinedError(payment: PaymentRow) {
  return appError(ErrorCode.PAYMENT_DECLINED, 'The card was declined.', { reason: payment.failureReason, paymentId: payment.id });
}
