import { requireUser } from '../../../platform/auth/identity.js';
import type { OrdersContext } from '../context.js';
import { orderNotFound, visibleOrder } from './access.js';

export const queryResolvers = {
  Query: {
    /** The owner or an admin; anyone else gets the same NOT_FOUND as for an unknown id. */
    async order(_: unknown, { id }: { id: string }, ctx: OrdersContext) {
      requireUser(ctx.identity);
      const order = visibleOrder(ctx.identity, await ctx.loaders.orderById.load(id));
      if (!order) throw orderNotFound(id);
      return order;
    },
  },
};
