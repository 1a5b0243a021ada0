import { and, asc, desc, eq, gte, ilike, inArray, isNull, lte, gt, sql } from 'drizzle-orm';
import type { SQL } from 'drizzle-orm';
import type { Db } from '../../../platform/db.js';
import type { Tx } from '../../../platform/idempotency.js';
import { onlyIds } from '../../../platform/validation.js';
import { newestFirst, newestPerParent } from '../../../platform/keyset.js';
import type { CursorShape, CursorValue } from '../../../platform/pagination.js';
import { categories, products, stockReservations } from './schema.js';
import type { CatalogSchema, CategoryRow, ProductRow } from './schema.js';

/** Queries run on a connection or inside a caller's transaction. */
type CatalogDb = Db<CatalogSchema> | Tx;

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

export async function listProducts(
  db: CatalogDb,
  args: { filter: ProductFilter; orderBy: ProductOrder; limit: number; after: CursorValue[] | null },
): Promise<ProductRow[]> {
  const ordering = productOrderings[args.orderBy];
  const where = productFilterWhere(args.filter);
  if (args.after) where.push(ordering.after(args.after));
  return db.select().from(products).where(and(...where)).orderBy(...ordering.orderBy).limit(args.limit);
}

export const productsByIds = (db: CatalogDb, ids: readonly string[]) =>
  db.select().from(products).where(inArray(products.id, onlyIds(ids)));

export const productsBySkus = (db: CatalogDb, skus: readonly string[]) =>
  db.select().from(products).where(inArray(products.sku, [...skus]));

export const categoriesByIds = (db: CatalogDb, ids: readonly string[]) =>
  db.select().from(categories).where(inArray(categories.id, onlyIds(ids)));

// async: a Drizzle builder is a lazy thenable that runs its SQL on every `.then`. Returned
// straight to a resolver, Apollo's field instrumentation and graphql-js would each run it (and the
// @cacheControl hint would land after the response); a real promise runs it once.
export const listCategories = async (db: CatalogDb): Promise<CategoryRow[]> =>
  db.select().from(categories).orderBy(asc(categories.name));

/** Newest products of several categories in one statement: up to `limit` per category. */
export function productsOfCategories(db: CatalogDb, categoryIds: readonly string[], limit: number, after: CursorValue[] | null): Promise<ProductRow[]> {
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
  return row as ProductRow | undefined;
}

export async function insertReservation(tx: Tx, reservationId: string, lines: ReservedLine[]): Promise<void> {
  await tx.insert(stockReservations).values(lines.map((l) => ({ reservationId, ...l })));
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
