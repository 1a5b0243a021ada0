import { isSelfOrAdmin, requireUser } from '../../../platform/auth/identity.js';
import { forbidden } from '../../../platform/errors.js';
import { decodeCursor, parseFirst, toConnection } from '../../../platform/pagination.js';
import { newestOrdering } from '../db/queries.js';
import type { OrderStatus } from '../db/schema.js';
import type { OrdersContext } from '../context.js';

export const userResolvers = {
  User: {
    /** The user themself or an admin; batched across users that share the same page arguments. */
    async orders(
      user: { id: string },
      args: { first?: number | null; after?: string | null; status?: OrderStatus | null },
      ctx: OrdersContext,
    ) {
      requireUser(ctx.identity);
      if (!isSelfOrAdmin(ctx.identity, user.id)) throw forbidden("Only the user themself or an admin may see a user's orders.");
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
