import { decodeCursor, parseFirst, toConnection } from '../../../platform/pagination.js';
import { newestOrdering } from '../db/queries.js';
import type { Resolvers } from '../generated/resolvers.js';
import { assertMaySeeOrdersOf } from './access.js';

export const userResolvers: Resolvers = {
  User: {
    /** The user themself or an admin; batched across users that share the same page arguments. */
    async orders(user, args, ctx) {
      assertMaySeeOrdersOf(ctx.identity, user.id);
      const first = parseFirst(args.first);
      const after = decodeCursor(args.after, newestOrdering.shape);
      const rows = await ctx.loaders.customerOrders.load({
        parentId: user.id,
        args: { limit: first + 1, after, status: args.status ?? null },
      });
      for (const row of rows) ctx.loaders.orderById.prime(row.id, row);
      return toConnection(rows, first, newestOrdering.cursor);
    },
  },
};
