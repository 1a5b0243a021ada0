import type { BillingContext } from '../context.js';

export const orderResolvers = {
  Order: {
    /**
     * No ownership check here on purpose: the gateway reaches Order.invoice only through an order
     * the orders subgraph has already shown to this caller (it enforces owner-or-admin), and the
     * invoice belongs to that order's customer. Null until the invoice is issued.
     */
    invoice: (order: { id: string }, _args: unknown, ctx: BillingContext) => ctx.loaders.invoiceByOrderId.load(order.id),
  },
};
