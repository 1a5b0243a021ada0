import { z } from 'zod';
import { requireAdmin, requireUser } from '../../../platform/auth/identity.js';
import { invalidState, notFound } from '../../../platform/errors.js';
import { hashRequest, idempotencyKeySchema, runIdempotent } from '../../../platform/idempotency.js';
import type { Tx } from '../../../platform/idempotency.js';
import { isId, parseInput } from '../../../platform/validation.js';
import type { BillingContext, BillingDeps } from '../context.js';
import { chargePending, declinedError } from '../charges.js';
import { insertPayment, invoicesByIds, liveOrSucceededPaymentOf, lockInvoice, lockPayment, paymentsByIds } from '../db/queries.js';
import { refundPayment } from '../refunds.js';
import type { Resolvers } from '../generated/resolvers.js';
import { assertMayPay } from './access.js';

const paySchema = z.object({
  invoiceId: z.string().max(100),
  cardToken: z.string().min(1, 'is required').max(255),
  idempotencyKey: idempotencyKeySchema,
});

const refundSchema = z.object({ paymentId: z.string().max(100), idempotencyKey: idempotencyKeySchema });

type PayInput = z.infer<typeof paySchema>;

/**
 * Step 1 of a charge (charges.ts), in the idempotency key's transaction: the checks, then a
 * PENDING payment carrying the processor key. The invoice row lock serializes payments of one
 * invoice. Orders is asked before any money moves: a cancelled order's invoice is not payable,
 * even while billing has not yet seen the OrderCancelled that will void it.
 */
async function beginPayment(tx: Tx, deps: BillingDeps, ctx: BillingContext, input: PayInput, providerKey: string): Promise<string> {
  const invoice = isId(input.invoiceId) ? await lockInvoice(tx, input.invoiceId) : undefined;
  assertMayPay(ctx, invoice, input.invoiceId);
  if (invoice.status !== 'OPEN') {
    throw invalidState(`Invoice ${invoice.id} is ${invoice.status}; only OPEN invoices can be paid.`, { status: invoice.status });
  }
  if (await liveOrSucceededPaymentOf(tx, invoice.id)) {
    throw invalidState(`A payment of invoice ${invoice.id} is in progress; retry it with its own idempotency key.`, {
      status: invoice.status,
    });
  }
  const orderStatus = await deps.orders.status(invoice.orderId);
  if (orderStatus === 'CANCELLED') {
    throw invalidState(`The order of invoice ${invoice.id} is cancelled; its invoice can no longer be paid.`, {
      status: invoice.status,
      orderStatus,
    });
  }
  const payment = await insertPayment(tx, {
    invoiceId: invoice.id,
    amountCents: invoice.amountCents,
    currency: invoice.currency,
    status: 'PENDING',
    method: 'Card (pending)',
    providerKey,
  });
  return payment.id;
}

export function createMutationResolvers(deps: BillingDeps): Resolvers {
  return {
    Mutation: {
      async payInvoice(_, args, ctx) {
        const { userId } = requireUser(ctx.identity);
        const input = parseInput(paySchema, args.input);
        // Before any write: an unknown token must not burn the key or leave a payment behind.
        deps.provider.assertCardToken(input.cardToken);
        // Same client key, same processor key: a retry after a crash finds the same payment and charge.
        const providerKey = hashRequest({ scope: userId, operation: 'payInvoice', key: input.idempotencyKey });
        const paymentId = await runIdempotent<string>(
          ctx.db.write,
          {
            scope: userId,
            operation: 'payInvoice',
            key: input.idempotencyKey,
            input: { invoiceId: input.invoiceId, cardToken: input.cardToken },
          },
          (tx) => beginPayment(tx, deps, ctx, input, providerKey),
        );
        const [recorded] = await paymentsByIds(ctx.db.write, [paymentId]);
        if (!recorded) throw new Error(`payment ${paymentId} vanished after it was recorded`);
        const payment = recorded.status === 'PENDING' ? await chargePending(ctx.db.write, deps, recorded, input.cardToken) : recorded;
        if (payment.status === 'FAILED') throw declinedError(payment);
        ctx.loaders.paymentById.prime(payment.id, payment);
        return payment;
      },

      /**
       * Admins only. Orders is asked first (it owns the order's state): an unshipped order is
       * cancelled there, under its row lock, so a refund and a shipment cannot both win; its stock
       * returns through OrderCancelled. Then the money goes back here. Should billing die between
       * the two, OrderCancelled still refunds the paid invoice (events.ts), with the same refund key.
       */
      async refundPayment(_, args, ctx) {
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
              throw invalidState(`Payment ${payment.id} is ${payment.status}; only SUCCEEDED payments can be refunded.`, {
                status: payment.status,
              });
            }
            const [invoice] = await invoicesByIds(tx, [payment.invoiceId]);
            await deps.orders.cancelForRefund(invoice!.orderId);
            await refundPayment(tx, deps.provider, payment);
            return payment.id;
          },
        );
        const refunded = await ctx.loaders.paymentById.load(paymentId);
        if (!refunded) throw new Error(`payment ${paymentId} vanished after its refund`);
        return refunded;
      },
    },
  };
}
