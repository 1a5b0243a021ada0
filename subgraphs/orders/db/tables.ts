import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, pgSequence, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { idempotencyKeys } from '../../../platform/idempotency.js';

export { idempotencyKeys };

/** Millisecond precision, so keyset cursors (which carry JS dates) round-trip exactly. */
const ts = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: 'date' });

export const ORDER_STATUSES = ['PENDING_PAYMENT', 'PAID', 'SHIPPED', 'DELIVERED', 'CANCELLED'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** Human-friendly order numbers (the seed continues it with setval after inserting its own). */
export const orderNumberSeq = pgSequence('order_number_seq', { startWith: 100001 });

export const orders = pgTable(
  'orders',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    number: bigint('number', { mode: 'number' })
      .notNull()
      .unique()
      .default(sql`nextval('order_number_seq')`),
    customerId: uuid('customer_id').notNull(),
    status: text('status').$type<OrderStatus>().notNull(),
    totalCents: integer('total_cents').notNull(),
    currency: text('currency').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    /** When billing refunded the order's payment (PaymentRefunded); the status says what else happened. */
    refundedAt: ts('refunded_at'),
  },
  (t) => [
    check('orders_status_valid', sql`${t.status} in ('PENDING_PAYMENT', 'PAID', 'SHIPPED', 'DELIVERED', 'CANCELLED')`),
    check('orders_total_non_negative', sql`${t.totalCents} >= 0`),
    // User.orders: newest first per customer, and the same filtered by status.
    index('orders_customer_newest_idx').on(t.customerId, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    index('orders_customer_status_newest_idx').on(t.customerId, t.status, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
  ],
);

/** The lines of an order; the primary key's prefix (order_id) serves Order.items. */
export const orderItems = pgTable(
  'order_items',
  {
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id, { onDelete: 'cascade' }),
    productId: uuid('product_id').notNull(),
    quantity: integer('quantity').notNull(),
    unitPriceCents: integer('unit_price_cents').notNull(),
    currency: text('currency').notNull(),
    /** Line order as the customer gave it. */
    position: integer('position').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.orderId, t.productId] }),
    check('order_items_quantity_positive', sql`${t.quantity} > 0`),
    check('order_items_price_non_negative', sql`${t.unitPriceCents} >= 0`),
  ],
);

export { eventSequences, outbox, processedEvents } from '../../../platform/events/outbox.js';
export { eventInbox, eventPositions } from '../../../platform/events/inbox.js';
import { eventSequences, outbox, processedEvents } from '../../../platform/events/outbox.js';
import { eventInbox, eventPositions } from '../../../platform/events/inbox.js';

export const tables = { orders, orderItems, idempotencyKeys, outbox, processedEvents, eventSequences, eventPositions, eventInbox };
export type OrdersTables = typeof tables;
export type OrderRow = typeof orders.$inferSelect;
export type OrderItemRow = typeof orderItems.$inferSelect;
export type NewOrder = typeof orders.$inferInsert;
export type NewOrderItem = typeof orderItems.$inferInsert;
