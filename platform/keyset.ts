import { and, desc, eq, lte, sql } from 'drizzle-orm';
import type { Placeholder, SQL } from 'drizzle-orm';
import type { AnyPgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Db } from './db.js';
import type { Tx } from './idempotency.js';
import type { CursorShape, CursorValue } from './pagination.js';

/**
 * "Newest first" keyset pagination over (timestamp, id): the ordering every growing list of this
 * API uses. Cursors are `[ISO timestamp, id]`, validated by decodeCursor before they reach SQL; the
 * values go in as text with casts because postgres.js cannot bind a Date inside a raw fragment.
 * The matching index is (…, at DESC NULLS FIRST, id DESC NULLS FIRST).
 */
export function newestFirst<R>(at: AnyPgColumn, id: AnyPgColumn, key: (row: R) => { at: Date; id: string }) {
  return {
    orderBy: [desc(at), desc(id)],
    after: ([a, i]: CursorValue[]): SQL => sql`(${at}, ${id}) < (${a}::timestamptz, ${i}::uuid)`,
    cursor: (row: R): CursorValue[] => {
      const k = key(row);
      return [k.at.toISOString(), k.id];
    },
    shape: ['timestamp', 'id'] as CursorShape[],
  };
}

/**
 * Up to `limit` newest rows for each of several parents (a page of orders for each user of a
 * DataLoader batch) in one statement: rank within each parent, keep the first `limit`.
 * `limit` may be a placeholder (a prepared statement, platform/db.ts preparedPer); rows come back
 * as `{ row }`, see `rowsOf`.
 */
export function newestPerParentQuery(
  db: Db<Record<string, unknown>> | Tx,
  table: PgTable,
  columns: { id: AnyPgColumn; parent: AnyPgColumn; at: AnyPgColumn },
  where: SQL[],
  limit: number | Placeholder,
) {
  const { id, parent, at } = columns;
  const ranked = db
    .select({ id, rank: sql<number>`row_number() over (partition by ${parent} order by ${at} desc, ${id} desc)`.as('rank') })
    .from(table as never)
    .where(and(...where))
    .as('ranked');
  return db
    .select({ row: table as never })
    .from(ranked)
    .innerJoin(table as never, eq(id, ranked.id))
    .where(lte(ranked.rank, limit))
    .orderBy(desc(at), desc(id));
}

export const rowsOf = <R>(rows: unknown[]): R[] => rows.map((r) => (r as { row: R }).row);

export async function newestPerParent<T extends PgTable>(
  db: Db<Record<string, unknown>> | Tx,
  table: T,
  columns: { id: AnyPgColumn; parent: AnyPgColumn; at: AnyPgColumn },
  where: SQL[],
  limit: number,
): Promise<T['$inferSelect'][]> {
  return rowsOf(await newestPerParentQuery(db, table, columns, where, limit));
}
