import { sql } from 'drizzle-orm';
import { check, index, integer, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/** Millisecond precision, so keyset cursors (which carry JS dates) round-trip exactly. */
const ts = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: 'date' });

export const categories = pgTable('categories', {
  id: uuid('id').primaryKey().defaultRandom(),
  slug: text('slug').notNull().unique(),
  name: text('name').notNull(),
  createdAt: ts('created_at').notNull().defaultNow(),
});

export const products = pgTable(
  'products',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    sku: text('sku').notNull().unique(),
    name: text('name').notNull(),
    description: text('description').notNull(),
    priceCents: integer('price_cents').notNull(),
    currency: text('currency').notNull(),
    categoryId: uuid('category_id')
      .notNull()
      .references(() => categories.id),
    stock: integer('stock').notNull(),
    weightGrams: integer('weight_grams').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    // The database is the last line against overselling: no code path can take stock below zero.
    check('products_stock_non_negative', sql`${t.stock} >= 0`),
    check('products_price_non_negative', sql`${t.priceCents} >= 0`),
    // One index per keyset ordering the API offers (and per category for the storefront).
    // DESC NULLS FIRST is what a plain ORDER BY ... DESC means; drizzle-kit would otherwise write NULLS LAST, which the planner cannot use for it.
    index('products_newest_idx').on(t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    index('products_category_newest_idx').on(t.categoryId, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    index('products_price_idx').on(t.priceCents, t.id),
    index('products_name_idx').on(t.name, t.id),
    // ILIKE '%term%' on name + description is served by this trigram index (pg_trgm).
    index('products_search_trgm_idx').using('gin', sql`(${t.name} || ' ' || ${t.description}) gin_trgm_ops`),
  ],
);

/**
 * Stock taken by an order (reservation id = order id). Reserving and releasing are idempotent
 * per reservation, so the orders service may retry either without double effects.
 */
export const stockReservations = pgTable(
  'stock_reservations',
  {
    reservationId: uuid('reservation_id').notNull(),
    productId: uuid('product_id')
      .notNull()
      .references(() => products.id),
    quantity: integer('quantity').notNull(),
    unitPriceCents: integer('unit_price_cents').notNull(),
    currency: text('currency').notNull(),
    releasedAt: ts('released_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.reservationId, t.productId] })],
);

export const RESERVATION_STATUSES = ['HELD', 'CONFIRMED', 'RELEASED'] as const;
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number];

/**
 * One row per reservation id (= order id), written before any stock is taken: the state the
 * reserve, the release and the reaper serialize on. HELD is provisional (no order has committed
 * yet); CONFIRMED means orders committed the order (OrderPlaced, or orders said so when asked);
 * RELEASED is final, and a release that arrives before its reserve leaves a RELEASED row (a
 * tombstone) so the late reserve is refused.
 */
export const reservations = pgTable(
  'reservations',
  {
    reservationId: uuid('reservation_id').primaryKey(),
    status: text('status').$type<ReservationStatus>().notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    /** When the reaper next asks orders about a HELD reservation (creation + TTL, then backoff). */
    checkAfter: ts('check_after').notNull(),
    confirmedAt: ts('confirmed_at'),
    releasedAt: ts('released_at'),
  },
  (t) => [
    check('reservations_status_valid', sql`${t.status} in ('HELD', 'CONFIRMED', 'RELEASED')`),
    // The reaper's scan: only provisional reservations, soonest due first.
    index('reservations_held_due_idx')
      .on(t.checkAfter)
      .where(sql`${t.status} = 'HELD'`),
  ],
);

export { eventSequences, outbox, processedEvents } from '../../../platform/events/outbox.js';
export { eventInbox, eventPositions } from '../../../platform/events/inbox.js';
import { eventSequences, outbox, processedEvents } from '../../../platform/events/outbox.js';
import { eventInbox, eventPositions } from '../../../platform/events/inbox.js';

export const tables = {
  categories,
  products,
  stockReservations,
  reservations,
  outbox,
  processedEvents,
  eventSequences,
  eventPositions,
  eventInbox,
};
export type CatalogTables = typeof tables;
export type ProductRow = typeof products.$inferSelect;
export type CategoryRow = typeof categories.$inferSelect;
