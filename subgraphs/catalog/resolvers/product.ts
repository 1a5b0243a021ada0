import { parseFirst, decodeCursor, toConnection } from '../../../platform/pagination.js';
import { productOrderings } from '../db/queries.js';
import type { Resolvers } from '../generated/resolvers.js';

export const productResolvers: Resolvers = {
  Product: {
    __resolveReference(ref, ctx) {
      return 'id' in ref ? ctx.loaders.productById.load(ref.id) : ctx.loaders.productBySku.load(ref.sku);
    },
    price: (p) => ({ amountCents: p.priceCents, currency: p.currency }),
    async category(p, _args, ctx) {
      const category = await ctx.loaders.categoryById.load(p.categoryId);
      if (!category) throw new Error(`product ${p.id} points to missing category ${p.categoryId}`);
      return category;
    },
  },
  Category: {
    __resolveReference: (ref, ctx) => ctx.loaders.categoryById.load(ref.id),
    async products(c, args, ctx) {
      const first = parseFirst(args.first);
      const after = decodeCursor(args.after, productOrderings.NEWEST.shape);
      const rows = await ctx.loaders.categoryProducts.load({ parentId: c.id, args: { limit: first + 1, after } });
      return toConnection(rows, first, productOrderings.NEWEST.cursor);
    },
  },
};
