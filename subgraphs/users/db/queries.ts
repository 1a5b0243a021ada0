import { eq, desc, inArray, sql } from 'drizzle-orm';
import { newestFirst } from '../../../platform/keyset.js';
import type { Db } from '../../../platform/db.js';
import type { Tx } from '../../../platform/idempotency.js';
import type { CursorValue } from '../../../platform/pagination.js';
import { onlyIds } from '../../../platform/validation.js';
import { users } from './schema.js';
import type { NewUser, UserRow, UsersSchema } from './schema.js';

/** Queries run on a connection or inside a caller's transaction. */
type UsersDb = Db<UsersSchema> | Tx;

/** Query.users ordering: newest first, id breaking ties (served by users_newest_idx). */
export const userNewest = newestFirst<UserRow>(users.createdAt, users.id, (u) => ({ at: u.createdAt, id: u.id }));

export const usersByIds = (db: UsersDb, ids: readonly string[]): Promise<UserRow[]> =>
  db.select().from(users).where(inArray(users.id, onlyIds(ids)));

/** Case-insensitive, through the same expression as the unique index (so the index serves it). */
export async function userByEmail(db: UsersDb, email: string): Promise<UserRow | undefined> {
  const [row] = await db
    .select()
    .from(users)
    .where(sql`lower(${users.email}) = lower(${email})`)
    .limit(1);
  return row;
}

export function listUsers(db: UsersDb, args: { limit: number; after: CursorValue[] | null }): Promise<UserRow[]> {
  return db
    .select()
    .from(users)
    .where(args.after ? userNewest.after(args.after) : undefined)
    .orderBy(desc(users.createdAt), desc(users.id))
    .limit(args.limit);
}

/** Throws the driver's unique violation (23505) when the email is taken in any case. */
export async function insertUser(db: UsersDb, values: NewUser): Promise<UserRow> {
  const [row] = await db.insert(users).values(values).returning();
  return row!;
}

export async function updateUserName(db: UsersDb, id: string, name: string): Promise<UserRow | undefined> {
  const [row] = await db.update(users).set({ name }).where(eq(users.id, id)).returning();
  return row;
}

/** Rows per INSERT: 6 parameters each stays far below Postgres's 65,535-parameter limit. */
const INSERT_CHUNK = 1_000;

/**
 * Bulk insert for seed and import scripts: multi-row INSERTs of up to 1,000 rows, one round trip
 * each. Rows carry their password hash already (hash with passwords.ts). Returns the row count.
 */
export async function insertUsers(db: UsersDb, rows: readonly NewUser[]): Promise<number> {
  let inserted = 0;
  for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
    const chunk = rows.slice(i, i + INSERT_CHUNK);
    await db.insert(users).values(chunk);
    inserted += chunk.length;
  }
  return inserted;
}
