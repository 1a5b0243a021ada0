import { markVolatile } from '../../../platform/cache-tags.js';
import type { Resolvers } from '../generated/resolvers.js';

export const invoiceResolvers: Resolvers = {
  Invoice: {
    /**
     * Entity references only come from the gateway's query plans; no other subgraph points at an
     * Invoice today, so every path to one already went through an authorized field.
     */
    __resolveReference: (ref, ctx) => ctx.loaders.invoiceById.load(ref.id),
    order: (i) => ({ __typename: 'Order', id: i.orderId }),
    amount: (i) => ({ amountCents: i.amountCents, currency: i.currency }),
    payments(i, _args, ctx, info) {
      // An open invoice's payments change without an event (an attempt, a decline): the gateway must not keep them.
      if (i.status === 'OPEN') markVolatile(ctx, info);
      return ctx.loaders.paymentsByInvoiceId.load(i.id);
    },
  },
};
