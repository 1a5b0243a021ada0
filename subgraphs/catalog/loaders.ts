import type { RequestDb } from '../../platform/db.js';
import { createEntityLoader, createPageLoader } from '../../platform/loaders.js';
import type { CursorValue } from '../../platform/pagination.js';
import { categoriesByIds, productsByIds, productsBySkus, productsOfCategories } from './db/queries.js';
import type { CatalogTables } from './db/tables.js';

export function createLoaders(db: RequestDb<CatalogTables>) {
  return {
    productById: createEntityLoader(
      (ids: readonly string[]) => productsByIds(db.read, ids),
      (p) => p.id,
    ),
    productBySku: createEntityLoader(
      (skus: readonly string[]) => productsBySkus(db.read, skus),
      (p) => p.sku,
    ),
    categoryById: createEntityLoader(
      (ids: readonly string[]) => categoriesByIds(db.read, ids),
      (c) => c.id,
    ),
    /** Category.products: limit is first + 1 (the extra row says whether there is a next page). */
    categoryProducts: createPageLoader(
      (ids: readonly string[], args: { limit: number; after: CursorValue[] | null }) =>
        productsOfCategories(db.read, ids, args.limit, args.after),
      (p) => p.categoryId,
    ),
  };
}

export type CatalogLoaders = ReturnType<typeof createLoaders>;
