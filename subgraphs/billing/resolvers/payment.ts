import type { BillingContext } from '../context.js';
import type { PaymentRow } from '../db/tables.js';

export const paymentResolvers = {
  Payment: {
    /** As for Invoice: reached only through fields that already checked who is asking. */
    __resolveReference: (ref: { id: string }, ctx: BillingContext) => ctx.loaders.paymentById.load(ref.id),
    amount: (p: PaymentRow) => ({ amountCents: p.amountCents, currency: p.currency }),
    async invoice(p: PaymentRow, _args: unknown, ctx: BillingContext) {
      const invoice = await ctx.loaders.invoiceById.load(p.invoiceId);
      if (!invoice) throw new Error(`payment ${p.id} points to missing invoice ${p.invoiceId}`);
      return invoice;
    },
  },
};
