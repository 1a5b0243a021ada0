import { requireAdmin } from '../../../platform/auth/identity.js';
import { decodeCursor, parseFirst, toConnection } from '../../../platform/pagination.js';
import { listUsers, userByEmail, userNewest } from '../db/queries.js';
import type { Resolvers } from '../generated/resolvers.js';

export const queryResolvers: Resolvers = {
  Query: {
    /** Null when anonymous (and for a valid token whose subject has no account here). */
    me: (_, __, ctx) => (ctx.identity.userId ? ctx.loaders.userById.load(ctx.identity.userId) : null),
    /** Unknown and malformed ids are simply null; private fields are guarded on User. */
    user: (_, { id }, ctx) => ctx.loaders.userById.load(id),
    /** Admins only, newest first; auth is checked before the arguments so outsiders learn nothing. */
    async users(_, args, ctx) {
      requireAdmin(ctx.identity);
      const first = parseFirst(args.first);
      const after = decodeCursor(args.after, userNewest.shape);
      const rows = await listUsers(ctx.db.read, { limit: first + 1, after });
      for (const row of rows) ctx.loaders.userById.prime(row.id, row);
      return toConnection(rows, first, userNewest.cursor);
    },
    /** Admins only (also enforced at the gateway by @requiresScopes). */
    async userByEmail(_, { email }, ctx) {
      requireAdmin(ctx.identity);
      if (email.length > 254) return null;
      return (await userByEmail(ctx.db.read, email)) ?? null;
    },
  },
};
