import type { Resolvers } from '../generated/resolvers.js';

export const paymentResolvers: Resolvers = {
  Payment: {
    /** As for Invoice: reached only through fields that already checked who is asking. */
    __resolveReference: (ref, ctx) => ctx.loaders.paymentById.load(ref.id),
    amount: (p) => ({ amountCents: p.amountCents, currency: p.currency }),
    async invoice(p, _args, ctx) {
      const invoice = await ctx.loaders.invoiceById.load(p.invoiceId);
      if (!invoice) throw new Error(`payment ${p.id} points to missing invoice ${p.invoiceId}`);
      return invoice;
    },
  },
};
