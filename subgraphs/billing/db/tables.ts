import { sql } from 'drizzle-orm';
import { check, index, integer, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { idempotencyKeys } from '../../../platform/idempotency.js';

export { idempotencyKeys };

/** Millisecond precision, so keyset cursors (which carry JS dates) round-trip exactly. */
const ts = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: 'date' });

export type InvoiceStatus = 'OPEN' | 'PAID' | 'VOID' | 'REFUNDED';
/** PENDING: recorded before the processor is called, settled by the caller, a retry or the reconciler. */
export type PaymentStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED' | 'REFUNDED';

/** One invoice per order, issued when billing consumes its OrderPlaced. */
export const invoices = pgTable(
  'invoices',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    // UNIQUE makes issuing idempotent per order: a redelivered OrderPlaced inserts nothing (ON CONFLICT DO NOTHING).
    orderId: uuid('order_id').notNull().unique(),
    customerId: uuid('customer_id').notNull(),
    amountCents: integer('amount_cents').notNull(),
    currency: text('currency').notNull(),
    status: text('status').$type<InvoiceStatus>().notNull().default('OPEN'),
    issuedAt: ts('issued_at').notNull().defaultNow(),
    paidAt: ts('paid_at'),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    check('invoices_status_valid', sql`${t.status} in ('OPEN', 'PAID', 'VOID', 'REFUNDED')`),
    check('invoices_amount_non_negative', sql`${t.amountCents} >= 0`),
    // User.invoices: keyset newest first per customer.
    index('invoices_customer_newest_idx').on(t.customerId, t.issuedAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
  ],
);

/** Every charge attempt, declined ones included (a decline is a fact worth keeping). */
export const payments = pgTable(
  'payments',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    invoiceId: uuid('invoice_id')
      .notNull()
      .references(() => invoices.id),
    amountCents: integer('amount_cents').notNull(),
    currency: text('currency').notNull(),
    status: text('status').$type<PaymentStatus>().notNull(),
    /** A label of the card ("Visa •••• 4242"); the card token itself is never stored. */
    method: text('method').notNull(),
    /** The processor's charge reference; null when the charge was declined without one. */
    providerRef: text('provider_ref'),
    /** The processor's refund reference, once refunded. */
    refundRef: text('refund_ref'),
    /** The processor's decline reason for FAILED payments. */
    failureReason: text('failure_reason'),
    /**
     * The idempotency key sent with the charge (derived from the client's key): a retry, the
     * reconciler and the processor all name this one charge by it. Null for rows made before it.
     */
    providerKey: text('provider_key').unique(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    check('payments_status_valid', sql`${t.status} in ('PENDING', 'SUCCEEDED', 'FAILED', 'REFUNDED')`),
    check('payments_amount_non_negative', sql`${t.amountCents} >= 0`),
    // Invoice.payments (oldest first) and the foreign key.
    index('payments_invoice_created_idx').on(t.invoiceId, t.createdAt, t.id),
    // Last line against double charging: an invoice has at most one payment that took (or may be
    // taking) money; a PENDING one counts.
    uniqueIndex('payments_one_success_per_invoice')
      .on(t.invoiceId)
      .where(sql`${t.status} <> 'FAILED'`),
    // The reconciler's scan: PENDING payments, oldest first.
    index('payments_pending_idx')
      .on(t.createdAt)
      .where(sql`${t.status} = 'PENDING'`),
  ],
);

export { eventSequences, outbox, processedEvents } from '../../../platform/events/outbox.js';
export { eventInbox, eventPositions } from '../../../platform/events/inbox.js';
import { eventSequences, outbox, processedEvents } from '../../../platform/events/outbox.js';
import { eventInbox, eventPositions } from '../../../platform/events/inbox.js';

export const tables = { invoices, payments, idempotencyKeys, outbox, processedEvents, eventSequences, eventPositions, eventInbox };
export type BillingTables = typeof tables;
export type InvoiceRow = typeof invoices.$inferSelect;
export type PaymentRow = typeof payments.$inferSelect;
