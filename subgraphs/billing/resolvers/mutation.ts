import { z } from 'zod';
import { isAdmin, requireAdmin, requireUser } from '../../../platform/auth/identity.js';
import { ErrorCode, appError, forbidden, invalidState, notFound } from '../../../platform/errors.js';
import { hashRequest, runIdempotent } from '../../../platform/idempotency.js';
import { isId, parseInput } from '../../../platform/validation.js';
import type { BillingContext, BillingDeps } from '../context.js';
import { enqueue } from '../../../platform/events/outbox.js';
import { insertPayment, invoiceStatusChanged, lockInvoice, lockPayment, setInvoiceStatus } from '../db/queries.js';
import { refundPayment } from '../refunds.js';

const idempotencyKey = z.string().min(8, 'must be 8 to 255 characters').max(255, 'must be 8 to 255 characters');

const paySchema = z.object({
  invoiceId: z.string().max(100),
  cardToken: z.string().min(1, 'is required').max(255),
  idempotencyKey,
});

const refundSchema = z.object({ paymentId: z.string().max(100), idempotencyKey });

export function createMutationResolvers(deps: BillingDeps) {
  return {
    Mutation: {
      async payInvoice(_: unknown, args: { input: unknown }, ctx: BillingContext) {
        const { userId } = requireUser(ctx.identity);
        const input = parseInput(paySchema, args.input);
        // Before any write: an unknown token must not burn the key or leave a payment behind.
        deps.provider.assertCardToken(input.cardToken);
        const paymentId = await runIdempotent<string>(
          ctx.db.write,
          { scope: userId, operation: 'payInvoice', key: input.idempotencyKey, input: { invoiceId: input.invoiceId, cardToken: input.cardToken } },
          async (tx) => {
            // The row lock serializes payments of one invoice: a second one waits, then sees PAID.
            const invoice = isId(input.invoiceId) ? await lockInvoice(tx, input.invoiceId) : undefined;
            if (!invoice || (invoice.customerId !== userId && !isAdmin(ctx.identity))) {
              throw notFound(`Invoice ${input.invoiceId} was not found.`);
            }
            if (invoice.customerId !== userId) throw forbidden("Only the invoice's owner may pay it.");
            if (invoice.status !== 'OPEN') {
              throw invalidState(`Invoice ${invoice.id} is ${invoice.status}; only OPEN invoices can be paid.`, { status: invoice.status });
            }
            const charge = await deps.provider.charge({
              amountCents: invoice.amountCents,
              currency: invoice.currency,
              cardToken: input.cardToken,
              // Same client key, same processor key: a retry after a crash cannot charge twice.
              idempotencyKey: hashRequest({ scope: userId, operation: 'payInvoice', key: input.idempotencyKey }),
            });
            const base = { invoiceId: invoice.id, amountCents: invoice.amountCents, currency: invoice.currency, method: charge.method };
            if (charge.status === 'declined') {
              // Returned, not thrown: the FAILED payment is kept and the error is replayed on retry.
              const payment = await insertPayment(tx, { ...base, status: 'FAILED', failureReason: charge.reason });
              return {
                error: appError(ErrorCode.PAYMENT_DECLINED, 'The card was declined.', { reason: charge.reason, paymentId: payment.id }),
              };
            }
            const payment = await insertPayment(tx, { ...base, status: 'SUCCEEDED', providerRef: charge.reference });
            await setInvoiceStatus(tx, invoice.id, 'PAID', payment.createdAt);
            // Committed with the payment: orders moves the order to PAID when it consumes InvoicePaid.
            await enqueue(
              tx,
              { type: 'InvoicePaid', payload: { invoiceId: invoice.id, orderId: invoice.orderId, customerId: invoice.customerId } },
              invoiceStatusChanged(invoice, 'PAID'),
            );
            return payment.id;
          },
        );
        return ctx.loaders.paymentById.load(paymentId);
      },

      async refundPayment(_: unknown, args: { input: unknown }, ctx: BillingContext) {
        requireAdmin(ctx.identity);
        const { userId } = requireUser(ctx.identity);
        const input = parseInput(refundSchema, args.input);
        const paymentId = await runIdempotent<string>(
          ctx.db.write,
          { scope: userId, operation: 'refundPayment', key: input.idempotencyKey, input: { paymentId: input.paymentId } },
          async (tx) => {
            const payment = isId(input.paymentId) ? await lockPayment(tx, input.paymentId) : undefined;
            if (!payment) throw notFound(`Payment ${input.paymentId} was not found.`);
            if (payment.status !== 'SUCCEEDED' || !payment.providerRef) {
              throw invalidState(`Payment ${payment.id} is ${payment.status}; only SUCCEEDED payments can be refunded.`, { status: payment.status });
            }
            await refundPayment(tx, deps.provider, payment);
            return payment.id;
          },
        );
        return ctx.loaders.paymentById.load(paymentId);
      },
    },
  };
}
