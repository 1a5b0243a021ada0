import type { RequestDb } from '../../platform/db.js';
import { createEntityLoader, createGroupLoader, createPageLoader } from '../../platform/loaders.js';
import { invoicesByIds, invoicesByOrderIds, invoicesOfCustomers, paymentsByIds, paymentsOfInvoices } from './db/queries.js';
import type { InvoicePageArgs } from './db/queries.js';
import type { BillingTables } from './db/tables.js';

export function createLoaders(db: RequestDb<BillingTables>) {
  return {
    invoiceById: createEntityLoader(
      (ids: readonly string[]) => invoicesByIds(db.read, ids),
      (i) => i.id,
    ),
    /** Order.invoice: one statement for every order of a page. */
    invoiceByOrderId: createEntityLoader(
      (ids: readonly string[]) => invoicesByOrderIds(db.read, ids),
      (i) => i.orderId,
    ),
    paymentById: createEntityLoader(
      (ids: readonly string[]) => paymentsByIds(db.read, ids),
      (p) => p.id,
    ),
    /** Invoice.payments, oldest first. */
    paymentsByInvoiceId: createGroupLoader(
      (ids: readonly string[]) => paymentsOfInvoices(db.read, ids),
      (p) => p.invoiceId,
    ),
    /** User.invoices: limit is first + 1 (the extra row says whether there is a next page). */
    customerInvoices: createPageLoader(
      (ids: readonly string[], args: InvoicePageArgs) => invoicesOfCustomers(db.read, ids, args),
      (i) => i.customerId,
    ),
  };
}

export type BillingLoaders = ReturnType<typeof createLoaders>;
