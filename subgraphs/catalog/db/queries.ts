import { and, asc, desc, eq, gte, ilike, inArray, isNull, lte, gt, sql } from 'drizzle-orm';
import type { SQL } from 'drizzle-orm';
import { preparedPer } from '../../../platform/db.js';
import type { Db } from '../../../platform/db.js';
import type { Tx } from '../../../platform/idempotency.js';
import { onlyIds } from '../../../platform/validation.js';
import { newestFirst, newestPerParent } from '../../../platform/keyset.js';
import type { CursorShape, CursorValue } from '../../../platform/pagination.js';
import { categories, products, reservations, stockReservations } from './tables.js';
import type { CatalogTables, CategoryRow, ProductRow, ReservationStatus } from './tables.js';

/** Queries run on a connection or inside a caller's transaction. */
type CatalogDb = Db<CatalogTables> | Tx;

export type ProductOrder = 'NEWEST' | 'PRICE_ASC' | 'PRICE_DESC' | 'NAME_ASC';

/** Each public ordering: its ORDER BY, the keyset condition after a cursor, and the cursor of a row. */
export const productOrderings: Record<
  ProductOrder,
  { orderBy: SQL[]; after: (c: CursorValue[]) => SQL; cursor: (p: ProductRow) => CursorValue[]; shape: CursorShape[] }
> = {
  NEWEST: newestFirst<ProductRow>(products.createdAt, products.id, (p) => ({ at: p.createdAt, id: p.id })),
  PRICE_ASC: {
    orderBy: [asc(products.priceCents), asc(products.id)],
    after: ([price, id]) => sql`(${products.priceCents}, ${products.id}) > (${price}, ${id})`,
    cursor: (p) => [p.priceCents, p.id],
    shape: ['number', 'id'],
  },
  PRICE_DESC: {
    orderBy: [desc(products.priceCents), desc(products.id)],
    after: ([price, id]) => sql`(${products.priceCents}, ${products.id}) < (${price}, ${id})`,
    cursor: (p) => [p.priceCents, p.id],
    shape: ['number', 'id'],
  },
  NAME_ASC: {
    orderBy: [asc(products.name), asc(products.id)],
    after: ([name, id]) => sql`(${products.name}, ${products.id}) > (${name}, ${id})`,
    cursor: (p) => [p.name, p.id],
    shape: ['string', 'id'],
  },
};

export interface ProductFilter {
  categoryId?: string | null;
  search?: string | null;
  minPriceCents?: number | null;
  maxPriceCents?: number | null;
  inStock?: boolean | null;
}

/** `%` and `_` in a search are literal characters, not wildcards. */
const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export const searchText = sql`(${products.name} || ' ' || ${products.description})`;

export function productFilterWhere(filter: ProductFilter): SQL[] {
  const where: SQL[] = [];
  if (filter.categoryId) where.push(eq(products.categoryId, filter.categoryId));
  if (filter.search) where.push(ilike(searchText, `%${escapeLike(filter.search)}%`));
  if (filter.minPriceCents != null) where.push(gte(products.priceCents, filter.minPriceCents));
  if (filter.maxPriceCents != null) where.push(lte(products.priceCents, filter.maxPriceCents));
  if (filter.inStock === true) where.push(gt(products.stock, 0));
  if (filter.inStock === false) where.push(eq(products.stock, 0));
  return where;
}

/** A filter on one category and nothing else: the storefront's page, a prepared statement. */
const isCategoryOnly = (f: ProductFilter) =>
  !!f.categoryId && !f.search && f.minPriceCents == null && f.maxPriceCents == null && f.inStock == null;

const categoryPageStatement = preparedPer((db: CatalogDb) =>
  db
    .select()
    .from(products)
    .where(eq(products.categoryId, sql.placeholder('categoryId')))
    .orderBy(...productOrderings.NEWEST.orderBy)
    .limit(sql.placeholder('limit'))
    .prepare('category_page'),
);

export async function listProducts(
  db: CatalogDb,
  args: { filter: ProductFilter; orderBy: ProductOrder; limit: number; after: CursorValue[] | null },
): Promise<ProductRow[]> {
  if (args.orderBy === 'NEWEST' && !args.after && isCategoryOnly(args.filter)) {
    return categoryPageStatement(db).execute({ categoryId: args.filter.categoryId, limit: args.limit });
  }
  const ordering = productOrderings[args.orderBy];
  const where = productFilterWhere(args.filter);
  if (args.after) where.push(ordering.after(args.after));
  return db
    .select()
    .from(products)
    .where(and(...where))
    .orderBy(...ordering.orderBy)
    .limit(args.limit);
}

const ids = sql.placeholder('ids');

const productsByIdsStatement = preparedPer((db: CatalogDb) =>
  db
    .select()
    .from(products)
    .where(sql`${products.id} = any(${ids}::uuid[])`)
    .prepare('products_by_ids'),
);

export const productsByIds = (db: CatalogDb, productIds: readonly string[]): Promise<ProductRow[]> =>
  productsByIdsStatement(db).execute({ ids: onlyIds(productIds) });

const productsBySkusStatement = preparedPer((db: CatalogDb) =>
  db
    .select()
    .from(products)
    .where(sql`${products.sku} = any(${sql.placeholder('skus')}::text[])`)
    .prepare('products_by_skus'),
);

export const productsBySkus = (db: CatalogDb, skus: readonly string[]): Promise<ProductRow[]> =>
  productsBySkusStatement(db).execute({ skus: [...skus] });

const categoriesByIdsStatement = preparedPer((db: CatalogDb) =>
  db
    .select()
    .from(categories)
    .where(sql`${categories.id} = any(${ids}::uuid[])`)
    .prepare('categories_by_ids'),
);

export const categoriesByIds = (db: CatalogDb, categoryIds: readonly string[]): Promise<CategoryRow[]> =>
  categoriesByIdsStatement(db).execute({ ids: onlyIds(categoryIds) });

// async: a Drizzle builder is a lazy thenable that runs its SQL on every `.then`. Returned
// straight to a resolver, Apollo's field instrumentation and graphql-js would each run it (and the
// @cacheControl hint would land after the response); a real promise runs it once.
export const listCategories = async (db: CatalogDb): Promise<CategoryRow[]> => db.select().from(categories).orderBy(asc(categories.name));

/** Newest products of several categories in one statement: up to `limit` per category. */
export function productsOfCategories(
  db: CatalogDb,
  categoryIds: readonly string[],
  limit: number,
  after: CursorValue[] | null,
): Promise<ProductRow[]> {
  const where = [inArray(products.categoryId, onlyIds(categoryIds))];
  if (after) where.push(productOrderings.NEWEST.after(after));
  return newestPerParent(db, products, { id: products.id, parent: products.categoryId, at: products.createdAt }, where, limit);
}

export async function insertCategory(db: CatalogDb, values: typeof categories.$inferInsert): Promise<CategoryRow> {
  const [row] = await db.insert(categories).values(values).returning();
  return row!;
}

export type NewProduct = typeof products.$inferInsert;

export async function insertProduct(db: CatalogDb, values: NewProduct): Promise<ProductRow> {
  const [row] = await db.insert(products).values(values).returning();
  return row!;
}

export async function updateProduct(db: CatalogDb, id: string, patch: Partial<NewProduct>): Promise<ProductRow | undefined> {
  const [row] = await db
    .update(products)
    .set({ ...patch, updatedAt: new Date() })
    .where(eq(products.id, id))
    .returning();
  return row;
}

/** Adds delta to stock in one statement; undefined when the product is missing or stock would go negative. */
export async function addStock(db: CatalogDb, id: string, delta: number): Promise<ProductRow | undefined> {
  const [row] = await db
    .update(products)
    .set({ stock: sql`${products.stock} + ${delta}`, updatedAt: new Date() })
    .where(and(eq(products.id, id), gte(sql`${products.stock} + ${delta}`, 0)))
    .returning();
  return row;
}

export interface ReservedLine {
  productId: string;
  quantity: number;
  unitPriceCents: number;
  currency: string;
}

export const reservationLines = (db: CatalogDb, reservationId: string) =>
  db
    .select({
      productId: stockReservations.productId,
      quantity: stockReservations.quantity,
      unitPriceCents: stockReservations.unitPriceCents,
      currency: stockReservations.currency,
      releasedAt: stockReservations.releasedAt,
    })
    .from(stockReservations)
    .where(eq(stockReservations.reservationId, reservationId));

/**
 * Takes stock for one line with a conditional UPDATE: concurrent reservations of the last units
 * serialize on the row lock, and the loser's `stock >= quantity` check fails instead of overselling.
 */
export async function takeStock(tx: Tx, productId: string, quantity: number): Promise<ProductRow | undefined> {
  const [row] = await tx
    .update(products)
    .set({ stock: sql`${products.stock} - ${quantity}`, updatedAt: new Date() })
    .where(and(eq(products.id, productId), gte(products.stock, quantity)))
    .returning();
  return row;
}

export async function insertReservation(tx: Tx, reservationId: string, lines: ReservedLine[]): Promise<void> {
  await tx.insert(stockReservations).values(lines.map((l) => ({ reservationId, ...l })));
}

/**
 * Opens a reservation (HELD, due for its first check ttl seconds from now). Undefined when the id
 * already has a row: a retried reserve (replay it) or a release that came first (refuse).
 * A concurrent release of the same id waits on this uncommitted row, then sees the taken stock.
 */
export async function openReservation(tx: Tx, reservationId: string, ttlSeconds: number): Promise<boolean> {
  const rows = await tx
    .insert(reservations)
    .values({ reservationId, status: 'HELD', checkAfter: sql`now() + make_interval(secs => ${ttlSeconds})` })
    .onConflictDoNothing()
    .returning({ reservationId: reservations.reservationId });
  return rows.length > 0;
}

export async function reservationStatus(db: CatalogDb, reservationId: string): Promise<ReservationStatus | undefined> {
  const [row] = await db.select({ status: reservations.status }).from(reservations).where(eq(reservations.reservationId, reservationId));
  return row?.status;
}

/**
 * Moves a reservation to RELEASED, or leaves a RELEASED tombstone for an id never reserved (the
 * reserve, when it arrives, finds it and is refused). True when this call made the move.
 */
export async function closeReservation(tx: Tx, reservationId: string): Promise<boolean> {
  const rows = await tx
    .insert(reservations)
    .values({ reservationId, status: 'RELEASED', checkAfter: sql`now()`, releasedAt: sql`now()` })
    .onConflictDoUpdate({
      target: reservations.reservationId,
      set: { status: 'RELEASED', releasedAt: sql`now()` },
      setWhere: sql`${reservations.status} <> 'RELEASED'`,
    })
    .returning({ reservationId: reservations.reservationId });
  return rows.length > 0;
}

/** HELD -> RELEASED only: the reaper's release, which must not undo a confirmation made meanwhile. */
export async function releaseHeld(tx: Tx, reservationId: string): Promise<boolean> {
  const rows = await tx
    .update(reservations)
    .set({ status: 'RELEASED', releasedAt: sql`now()` })
    .where(and(eq(reservations.reservationId, reservationId), eq(reservations.status, 'HELD')))
    .returning({ reservationId: reservations.reservationId });
  return rows.length > 0;
}

/** HELD -> CONFIRMED: its order committed. A released reservation stays released. */
export async function confirmReservations(db: CatalogDb, reservationIds: string[]): Promise<number> {
  if (reservationIds.length === 0) return 0;
  const rows = await db
    .update(reservations)
    .set({ status: 'CONFIRMED', confirmedAt: sql`now()` })
    .where(and(inArray(reservations.reservationId, reservationIds), eq(reservations.status, 'HELD')))
    .returning({ reservationId: reservations.reservationId });
  return rows.length;
}

/**
 * Claims up to `limit` HELD reservations whose check is due, pushing their next check `leaseSeconds`
 * ahead so another catalog instance (or a crash of this one mid-check) does not block them for long.
 * SKIP LOCKED: instances scanning at once take disjoint batches instead of queueing on each other.
 */
export async function claimDueReservations(db: Db<CatalogTables>, limit: number, leaseSeconds: number): Promise<string[]> {
  const rows = await db.execute<{ reservation_id: string }>(sql`
    update ${reservations} set check_after = now() + make_interval(secs => ${leaseSeconds})
    where reservation_id in (
      select reservation_id from ${reservations}
      where status = 'HELD' and check_after <= now()
      order by check_after
      limit ${limit}
      for update skip locked
    )
    returning reservation_id`);
  return [...rows].map((r) => r.reservation_id);
}

/** Marks a reservation released and returns its units; a second release finds nothing to do. */
export async function releaseReservation(tx: Tx, reservationId: string): Promise<{ line: ReservedLine; product: ProductRow }[]> {
  const released = await tx
    .update(stockReservations)
    .set({ releasedAt: new Date() })
    .where(and(eq(stockReservations.reservationId, reservationId), isNull(stockReservations.releasedAt)))
    .returning();
  const result: { line: ReservedLine; product: ProductRow }[] = [];
  for (const line of released) {
    const [product] = await tx
      .update(products)
      .set({ stock: sql`${products.stock} + ${line.quantity}`, updatedAt: new Date() })
      .where(eq(products.id, line.productId))
      .returning();
    result.push({ line, product: product as ProductRow });
  }
  return result;
}

/** The StockChanged event for a product's current row (stock and price are what subscribers watch). */
export const stockChanged = (p: ProductRow) => ({
  type: 'StockChanged' as const,
  payload: { productId: p.id, stock: p.stock, priceCents: p.priceCents },
});

/** The ProductChanged event (gateways drop their cached answers about the product and its category). */
export const productChanged = (p: ProductRow) => ({
  type: 'ProductChanged' as const,
  payload: { productId: p.id, categoryId: p.categoryId },
});
