import { sql } from 'drizzle-orm';
import { check, index, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import type { Role } from '../../../platform/auth/identity.js';

/** Millisecond precision, so keyset cursors (which carry JS dates) round-trip exactly. */
const ts = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: 'date' });

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** Stored as the user typed it; uniqueness and sign-in ignore case (users_email_lower_idx). */
    email: text('email').notNull(),
    name: text('name').notNull(),
    role: text('role').$type<Role>().notNull().default('CUSTOMER'),
    /** `scrypt$N$r$p$salt$hash` (see passwords.ts); never the password itself. */
    passwordHash: text('password_hash').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    check('users_role_valid', sql`${t.role} in ('CUSTOMER', 'ADMIN')`),
    // One account per address whatever its case; logIn looks users up through this same expression.
    uniqueIndex('users_email_lower_idx').on(sql`lower(${t.email})`),
    // Query.users: newest first, keyset on (created_at, id). NULLS FIRST is what a plain
    // `ORDER BY ... DESC` means; drizzle's default DESC NULLS LAST index would never serve it.
    index('users_newest_idx').on(t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
  ],
);

export const tables = { users };
export type UsersTables = typeof tables;
export type UserRow = typeof users.$inferSelect;
export type NewUser = typeof users.$inferInsert;
