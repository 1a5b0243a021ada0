import { z } from 'zod';
import { decodeCursor, parseFirst, toConnection } from '../../../platform/pagination.js';
import { listChangedOnlyBy } from '../../../platform/cache-tags.js';
import { idSchema, parseInput } from '../../../platform/validation.js';
import { listCategories, listProducts, productOrderings } from '../db/queries.js';
import type { Resolvers } from '../generated/resolvers.js';

const filterSchema = z
  .object({
    categoryId: idSchema.nullish(),
    // Trigram search needs three characters to use its index; fewer would scan every product.
    search: z.string().trim().min(3, 'must be at least 3 characters').max(100).nullish(),
    minPriceCents: z.number().int().min(0).nullish(),
    maxPriceCents: z.number().int().min(0).nullish(),
    inStock: z.boolean().nullish(),
  })
  .refine((f) => f.minPriceCents == null || f.maxPriceCents == null || f.minPriceCents <= f.maxPriceCents, {
    error: 'minPriceCents must not exceed maxPriceCents',
    path: ['minPriceCents'],
  });

export const queryResolvers: Resolvers = {
  Query: {
    product: (_, { id }, ctx) => ctx.loaders.productById.load(id),
    productBySku: (_, { sku }, ctx) => ctx.loaders.productBySku.load(sku),
    categories: (_, __, ctx) => listCategories(ctx.db.read),
    async products(_, args, ctx, info) {
      const filter = parseInput(filterSchema, args.filter ?? {}, 'filter');
      // A client's explicit `orderBy: null` skips the SDL default, although codegen types the argument non-null.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      const orderBy = args.orderBy ?? 'NEWEST';
      const first = parseFirst(args.first);
      const ordering = productOrderings[orderBy];
      const after = decodeCursor(args.after, ordering.shape);
      // Stock moves a list only through its inStock filter; new, moved, renamed or repriced products come with ProductChanged.
      listChangedOnlyBy(ctx, info, filter.inStock == null ? ['ProductChanged'] : ['ProductChanged', 'StockChanged']);
      const rows = await listProducts(ctx.db.read, { filter, orderBy, limit: first + 1, after });
      for (const row of rows) ctx.loaders.productById.prime(row.id, row);
      return toConnection(rows, first, ordering.cursor);
    },
  },
};
