import { markVolatile } from '../../../platform/cache-tags.js';
import type { Resolvers } from '../generated/resolvers.js';

export const paymentResolvers: Resolvers = {
  Payment: {
    /** As for Invoice: reached only through fields that already checked who is asking. */
    __resolveReference: (ref, ctx) => ctx.loaders.paymentById.load(ref.id),
    status(p, _args, ctx, info) {
      // A pending payment settles (or is declined) without an event of its own: not kept by the gateway.
      if (p.status === 'PENDING') markVolatile(ctx, info);
      return p.status;
    },
    amount: (p) => ({ amountCents: p.amountCents, currency: p.currency }),
    async invoice(p, _args, ctx) {
      const invoice = await ctx.loaders.invoiceById.load(p.invoiceId);
      if (!invoice) throw new Error(`payment ${p.id} points to missing invoice ${p.invoiceId}`);
      return invoice;
    },
  },
};
