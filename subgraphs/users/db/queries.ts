import { eq, desc, sql } from 'drizzle-orm';
import { newestFirst } from '../../../platform/keyset.js';
import { preparedPer } from '../../../platform/db.js';
import type { Db } from '../../../platform/db.js';
import type { Tx } from '../../../platform/idempotency.js';
import type { CursorValue } from '../../../platform/pagination.js';
import { onlyIds } from '../../../platform/validation.js';
import { users } from './tables.js';
import type { NewUser, UserRow, UsersTables } from './tables.js';

/** Queries run on a connection or inside a caller's transaction. */
type UsersDb = Db<UsersTables> | Tx;

/** Query.users ordering: newest first, id breaking ties (served by users_newest_idx). */
export const userNewest = newestFirst<UserRow>(users.createdAt, users.id, (u) => ({ at: u.createdAt, id: u.id }));

const usersByIdsStatement = preparedPer((db: UsersDb) =>
  db
    .select()
    .from(users)
    .where(sql`${users.id} = any(${sql.placeholder('ids')}::uuid[])`)
    .prepare('users_by_ids'),
);

export const usersByIds = (db: UsersDb, ids: readonly string[]): Promise<UserRow[]> =>
  usersByIdsStatement(db).execute({ ids: onlyIds(ids) });

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
