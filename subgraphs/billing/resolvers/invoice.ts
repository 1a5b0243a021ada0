import type { BillingContext } from '../context.js';
import type { InvoiceRow } from '../db/tables.js';

export const invoiceResolvers = {
  Invoice: {
    /**
     * Entity references only come from the gateway's query plans; no other subgraph points at an
     * Invoice today, so every path to one already went through an authorized field.
     */
    __resolveReference: (ref: { id: string }, ctx: BillingContext) => ctx.loaders.invoiceById.load(ref.id),
    order: (i: InvoiceRow) => ({ __typename: 'Order', id: i.orderId }),
    amount: (i: InvoiceRow) => ({ amountCents: i.amountCents, currency: i.currency }),
    payments: (i: InvoiceRow, _args: unknown, ctx: BillingContext) => ctx.loaders.paymentsByInvoiceId.load(i.id),
  },
};
