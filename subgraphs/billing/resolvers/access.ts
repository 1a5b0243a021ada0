import { isAdmin, isSelfOrAdmin, requireUser } from '../../../platform/auth/identity.js';
import { forbidden, notFound } from '../../../platform/errors.js';
import type { BillingContext } from '../context.js';
import type { InvoiceRow } from '../db/tables.js';

/**
 * The one error for "no such invoice" and "not yours": for non-admins someone else's invoice and
 * a missing one look the same, so ids cannot be probed.
 */
const invoiceNotFound = (id: string) => notFound(`Invoice ${id} was not found.`);

const maySee = (ctx: BillingContext, invoice: InvoiceRow) => invoice.customerId === ctx.identity.userId || isAdmin(ctx.identity);

/** An invoice the caller may see (owner or admin), else NOT_FOUND. */
export async function visibleInvoice(ctx: BillingContext, id: string): Promise<InvoiceRow> {
  requireUser(ctx.identity);
  const invoice = await ctx.loaders.invoiceById.load(id);
  if (!invoice || !maySee(ctx, invoice)) throw invoiceNotFound(id);
  return invoice;
}

/** payInvoice: only the owner pays; an admin sees the invoice but gets FORBIDDEN, anyone else NOT_FOUND. */
export function assertMayPay(ctx: BillingContext, invoice: InvoiceRow | undefined, id: string): asserts invoice is InvoiceRow {
  if (!invoice || !maySee(ctx, invoice)) throw invoiceNotFound(id);
  if (invoice.customerId !== ctx.identity.userId) throw forbidden("Only the invoice's owner may pay it.");
}

/** User.invoices: the user themself or an admin. */
export function assertMaySeeInvoicesOf(ctx: BillingContext, userId: string): void {
  requireUser(ctx.identity);
  if (!isSelfOrAdmin(ctx.identity, userId)) throw forbidden("Only the user themself or an admin may see a user's invoices.");
}
