import { parseFirst, decodeCursor, toConnection } from '../../../platform/pagination.js';
import type { CategoryRow, ProductRow } from '../db/tables.js';
import { productOrderings } from '../db/queries.js';
import type { CatalogContext } from '../context.js';

type ProductRef = { id: string } | { sku: string };

export const productResolvers = {
  Product: {
    __resolveReference(ref: ProductRef, ctx: CatalogContext) {
      return 'id' in ref ? ctx.loaders.productById.load(ref.id) : ctx.loaders.productBySku.load(ref.sku);
    },
    price: (p: ProductRow) => ({ amountCents: p.priceCents, currency: p.currency }),
    async category(p: ProductRow, _args: unknown, ctx: CatalogContext) {
      const category = await ctx.loaders.categoryById.load(p.categoryId);
      if (!category) throw new Error(`product ${p.id} points to missing category ${p.categoryId}`);
      return category;
    },
  },
  Category: {
    __resolveReference: (ref: { id: string }, ctx: CatalogContext) => ctx.loaders.categoryById.load(ref.id),
    async products(c: CategoryRow, args: { first?: number; after?: string | null }, ctx: CatalogContext) {
      const first = parseFirst(args.first);
      const after = decodeCursor(args.after, productOrderings.NEWEST.shape);
      const rows = await ctx.loaders.categoryProducts.load({ parentId: c.id, args: { limit: first + 1, after } });
      return toConnection(rows, first, productOrderings.NEWEST.cursor);
    },
  },
};
