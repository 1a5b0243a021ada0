import { isAdmin, requireUser } from '../../../platform/auth/identity.js';
import { notFound } from '../../../platform/errors.js';
import type { BillingContext } from '../context.js';
import type { InvoiceRow } from '../db/schema.js';

/**
 * An invoice the caller may see, else NOT_FOUND. For non-admins someone else's invoice and a
 * missing one get the same error, so ids cannot be probed.
 */
export async function visibleInvoice(ctx: BillingContext, id: string): Promise<InvoiceRow> {
  const { userId } = requireUser(ctx.identity);
  const invoice = await ctx.loaders.invoiceById.load(id);
  if (!invoice || (invoice.customerId !== userId && !isAdmin(ctx.identity))) {
    throw notFound(`Invoice ${id} was not found.`);
  }
  return invoice;
}

export const queryResolvers = {
  Query: {
    invoice: (_: unknown, { id }: { id: string }, ctx: BillingContext) => visibleInvoice(ctx, id),
  },
};
