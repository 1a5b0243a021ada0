import { requireUser } from '../../../platform/auth/identity.js';
import type { Resolvers } from '../generated/resolvers.js';
import { orderNotFound, visibleOrder } from './access.js';

export const queryResolvers: Resolvers = {
  Query: {
    /** The owner or an admin; anyone else gets the same NOT_FOUND as for an unknown id. */
    async order(_, { id }, ctx) {
      requireUser(ctx.identity);
      const order = visibleOrder(ctx.identity, await ctx.loaders.orderById.load(id));
      if (!order) throw orderNotFound(id);
      return order;
    },
  },
};
