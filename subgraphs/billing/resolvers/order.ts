import type { Resolvers } from '../generated/resolvers.js';

export const orderResolvers: Resolvers = {
  Order: {
    /**
     * No ownership check here on purpose: the gateway reaches Order.invoice only through an order
     * the orders subgraph has already shown to this caller (it enforces owner-or-admin), and the
     * invoice belongs to that order's customer. Null until the invoice is issued.
     */
    invoice: (order, _args, ctx) => ctx.loaders.invoiceByOrderId.load(order.id),
  },
};
