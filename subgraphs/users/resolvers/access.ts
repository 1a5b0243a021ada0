import { isSelfOrAdmin } from '../../../platform/auth/identity.js';
import { forbidden } from '../../../platform/errors.js';
import type { UsersContext } from '../context.js';
import type { UserRow } from '../db/tables.js';

/**
 * Rows handed out by signUp / logIn: the caller is still anonymous for this request, yet the
 * AuthPayload's user is them, so its private fields are theirs to see. Marked per row object
 * (fresh from the database in that request), never per id, so nothing leaks to other requests.
 */
const ownRows = new WeakSet<UserRow>();

export function asOwnRow(row: UserRow): UserRow {
  ownRows.add(row);
  return row;
}

/** email, role, createdAt: the user themself or an admin; anyone else gets FORBIDDEN. */
export function assertCanSeePrivate(ctx: UsersContext, user: UserRow, field: string): void {
  if (ownRows.has(user) || isSelfOrAdmin(ctx.identity, user.id)) return;
  throw forbidden(`Only the user themself or an admin may see a user's ${field}.`);
}
