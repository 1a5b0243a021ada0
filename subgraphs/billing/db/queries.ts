import { and, asc, eq, inArray, lte, sql } from 'drizzle-orm';
import type { SQL } from 'drizzle-orm';
import { preparedPer } from '../../../platform/db.js';
import type { Db } from '../../../platform/db.js';
import type { Tx } from '../../../platform/idempotency.js';
import type { CursorValue } from '../../../platform/pagination.js';
import { onlyIds } from '../../../platform/validation.js';
import { newestFirst, newestPerParent } from '../../../platform/keyset.js';
import { invoices, payments } from './tables.js';
import type { BillingTables, InvoiceRow, InvoiceStatus, PaymentRow } from './tables.js';

/** Queries run on a connection or inside a caller's transaction. */
type BillingDb = Db<BillingTables> | Tx;

/** User.invoices: newest first, (issued_at, id) as the keyset. */
export const invoiceNewest = newestFirst<InvoiceRow>(invoices.issuedAt, invoices.id, (i) => ({ at: i.issuedAt, id: i.id }));

/** Every batch statement takes its keys as one array: one statement text whatever the batch size. */
const ids = sql.placeholder('ids');

const invoicesByIdsStatement = preparedPer((db: BillingDb) =>
  db
    .select()
    .from(invoices)
    .where(sql`${invoices.id} = any(${ids}::uuid[])`)
    .prepare('invoices_by_ids'),
);

export const invoicesByIds = (db: BillingDb, invoiceIds: readonly string[]): Promise<InvoiceRow[]> =>
  invoicesByIdsStatement(db).execute({ ids: onlyIds(invoiceIds) });

const invoicesByOrderIdsStatement = preparedPer((db: BillingDb) =>
  db
    .select()
    .from(invoices)
    .where(sql`${invoices.orderId} = any(${ids}::uuid[])`)
    .prepare('invoices_by_order_ids'),
);

export const invoicesByOrderIds = (db: BillingDb, orderIds: readonly string[]): Promise<InvoiceRow[]> =>
  invoicesByOrderIdsStatement(db).execute({ ids: onlyIds(orderIds) });

const paymentsByIdsStatement = preparedPer((db: BillingDb) =>
  db
    .select()
    .from(payments)
    .where(sql`${payments.id} = any(${ids}::uuid[])`)
    .prepare('payments_by_ids'),
);

export const paymentsByIds = (db: BillingDb, paymentIds: readonly string[]): Promise<PaymentRow[]> =>
  paymentsByIdsStatement(db).execute({ ids: onlyIds(paymentIds) });

const paymentsOfInvoicesStatement = preparedPer((db: BillingDb) =>
  db
    .select()
    .from(payments)
    .where(sql`${payments.invoiceId} = any(${ids}::uuid[])`)
    .orderBy(asc(payments.invoiceId), asc(payments.createdAt), asc(payments.id))
    .prepare('payments_of_invoices'),
);

/** Payments of several invoices, oldest first (served by payments_invoice_created_idx). */
export const paymentsOfInvoices = (db: BillingDb, invoiceIds: readonly string[]): Promise<PaymentRow[]> =>
  paymentsOfInvoicesStatement(db).execute({ ids: onlyIds(invoiceIds) });

export interface InvoicePageArgs {
  limit: number;
  after: CursorValue[] | null;
  status: InvoiceStatus | null;
}

/** Newest invoices of several customers in one statement: up to `limit` per customer. */
export function invoicesOfCustomers(db: BillingDb, customerIds: readonly string[], args: InvoicePageArgs): Promise<InvoiceRow[]> {
  const where: SQL[] = [inArray(invoices.customerId, onlyIds(customerIds))];
  if (args.status) where.push(eq(invoices.status, args.status));
  if (args.after) where.push(invoiceNewest.after(args.after));
  return newestPerParent(db, invoices, { id: invoices.id, parent: invoices.customerId, at: invoices.issuedAt }, where, args.limit);
}

export async function lockInvoice(tx: Tx, id: string): Promise<InvoiceRow | undefined> {
  const [row] = await tx.select().from(invoices).where(eq(invoices.id, id)).for('update');
  return row;
}

export async function lockPayment(tx: Tx, id: string): Promise<PaymentRow | undefined> {
  const [row] = await tx.select().from(payments).where(eq(payments.id, id)).for('update');
  return row;
}

export type NewPayment = typeof payments.$inferInsert;

export async function insertPayment(tx: Tx, values: NewPayment): Promise<PaymentRow> {
  const [row] = await tx.insert(payments).values(values).returning();
  return row!;
}

export async function setInvoiceStatus(tx: Tx, id: string, status: InvoiceStatus, paidAt?: Date): Promise<void> {
  const now = new Date();
  await tx
    .update(invoices)
    .set({ status, updatedAt: now, ...(paidAt ? { paidAt } : {}) })
    .where(eq(invoices.id, id));
}

export async function markPaymentRefunded(tx: Tx, id: string, refundRef: string): Promise<void> {
  await tx.update(payments).set({ status: 'REFUNDED', refundRef, updatedAt: new Date() }).where(eq(payments.id, id));
}

export interface NewInvoice {
  orderId: string;
  customerId: string;
  amountCents: number;
  currency: string;
}

/** Issues the invoice of an order once; a repeated call finds the existing one. */
export async function issueInvoice(db: BillingDb, values: NewInvoice): Promise<InvoiceRow> {
  const [inserted] = await db.insert(invoices).values(values).onConflictDoNothing({ target: invoices.orderId }).returning();
  if (inserted) return inserted;
  const [existing] = await invoicesByOrderIds(db, [values.orderId]);
  if (!existing) throw new Error(`invoice of order ${values.orderId} vanished after a conflicting insert`);
  return existing;
}

/** OPEN -> VOID in one conditional statement; undefined when the invoice is missing or not OPEN. */
export async function voidOpenInvoice(db: BillingDb, orderId: string): Promise<InvoiceRow | undefined> {
  const [row] = await db
    .update(invoices)
    .set({ status: 'VOID', updatedAt: new Date() })
    .where(and(eq(invoices.orderId, orderId), eq(invoices.status, 'OPEN')))
    .returning();
  return row;
}

/** The InvoiceStatusChanged event for an invoice moving to `status` (subscribers watch it). */
export const invoiceStatusChanged = (i: Pick<InvoiceRow, 'id' | 'orderId' | 'customerId'>, status: InvoiceStatus) => ({
  type: 'InvoiceStatusChanged' as const,
  payload: { invoiceId: i.id, orderId: i.orderId, customerId: i.customerId, status },
});

/** A payment of the invoice that took money or may be taking it (PENDING), if any. */
export async function liveOrSucceededPaymentOf(tx: Tx, invoiceId: string): Promise<PaymentRow | undefined> {
  const [row] = await tx
    .select()
    .from(payments)
    .where(and(eq(payments.invoiceId, invoiceId), inArray(payments.status, ['PENDING', 'SUCCEEDED'])));
  return row;
}

/** PENDING payments older than `olderThanMs` (by the database's clock), oldest first: the reconciler's work. */
export const stalePendingPayments = (db: BillingDb, olderThanMs: number, limit: number): Promise<PaymentRow[]> =>
  db
    .select()
    .from(payments)
    .where(and(eq(payments.status, 'PENDING'), lte(payments.createdAt, sql`now() - make_interval(secs => ${olderThanMs / 1000})`)))
    .orderBy(asc(payments.createdAt))
    .limit(limit);

/** The one payment that took an invoice's money, if any. */
export async function succeededPaymentOf(tx: Tx, invoiceId: string): Promise<PaymentRow | undefined> {
  const [row] = await tx
    .select()
    .from(payments)
    .where(and(eq(payments.invoiceId, invoiceId), eq(payments.status, 'SUCCEEDED')))
    .for('update');
  return row;
}
