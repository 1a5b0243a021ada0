import { z } from 'zod';
import { badInput, invalidState, notFound } from '../../../platform/errors.js';
import { isUniqueViolation } from '../../../platform/db-errors.js';
import { isId, moneySchema, parseInput } from '../../../platform/validation.js';
import { enqueue } from '../../../platform/events/outbox.js';
import {
  addStock,
  categoriesByIds,
  insertCategory,
  insertProduct,
  productChanged,
  productsByIds,
  stockChanged,
  updateProduct,
} from '../db/queries.js';
import type { CatalogContext } from '../context.js';
import type { Resolvers } from '../generated/resolvers.js';
import { assertMayEditCatalog } from './access.js';

const name = z.string().trim().min(1).max(200);
const description = z.string().trim().max(5000);
const weightGrams = z.number().int().min(0).max(10_000_000);

const createSchema = z.object({
  sku: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 letters, digits, ".", "_" or "-"'),
  name,
  description,
  priceCents: moneySchema.cents,
  currency: moneySchema.currency,
  categoryId: z.string(),
  stock: z.number().int().min(0).max(1_000_000_000),
  weightGrams,
});

const categorySchema = z.object({
  slug: z
    .string()
    .trim()
    .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, 'must be lowercase letters, digits and single dashes')
    .max(64),
  name: z.string().trim().min(1).max(100),
});

const updateSchema = z
  .object({
    name: name.nullish(),
    description: description.nullish(),
    priceCents: moneySchema.cents.nullish(),
    categoryId: z.string().nullish(),
    weightGrams: weightGrams.nullish(),
  })
  .transform(
    (v) => Object.fromEntries(Object.entries(v).filter(([, x]) => x != null)) as { [K in keyof typeof v]?: NonNullable<(typeof v)[K]> },
  );

async function assertCategory(ctx: CatalogContext, categoryId: string) {
  const [category] = isId(categoryId) ? await categoriesByIds(ctx.db.write, [categoryId]) : [];
  if (!category) throw notFound(`Category ${categoryId} does not exist.`, { field: 'input.categoryId' });
}

export const mutationResolvers: Resolvers = {
  Mutation: {
    async createCategory(_, args, ctx) {
      assertMayEditCatalog(ctx);
      const input = parseInput(categorySchema, args.input);
      try {
        return await insertCategory(ctx.db.write, input);
      } catch (err) {
        if (isUniqueViolation(err, 'categories_slug_unique')) {
          throw badInput(`Slug ${input.slug} is already taken.`, { field: 'input.slug' });
        }
        throw err;
      }
    },
    async createProduct(_, args, ctx) {
      assertMayEditCatalog(ctx);
      const input = parseInput(createSchema, args.input);
      await assertCategory(ctx, input.categoryId);
      try {
        return await ctx.db.write.transaction(async (tx) => {
          const row = await insertProduct(tx, input);
          await enqueue(tx, productChanged(row));
          return row;
        });
      } catch (err) {
        if (isUniqueViolation(err, 'products_sku_unique')) throw badInput(`SKU ${input.sku} is already taken.`, { field: 'input.sku' });
        throw err;
      }
    },
    async updateProduct(_, args, ctx) {
      assertMayEditCatalog(ctx);
      const patch = parseInput(updateSchema, args.input);
      if (patch.categoryId) await assertCategory(ctx, patch.categoryId);
      if (!isId(args.id)) throw notFound(`Product ${args.id} does not exist.`);
      const row = await ctx.db.write.transaction(async (tx) => {
        const updated = await updateProduct(tx, args.id, patch);
        if (updated && patch.priceCents !== undefined) await enqueue(tx, stockChanged(updated));
        if (updated) await enqueue(tx, productChanged(updated));
        return updated;
      });
      if (!row) throw notFound(`Product ${args.id} does not exist.`);
      return row;
    },
    async adjustStock(_, args, ctx) {
      assertMayEditCatalog(ctx);
      if (!Number.isInteger(args.delta) || Math.abs(args.delta) > 1_000_000_000)
        throw badInput('delta is out of range.', { field: 'delta' });
      if (!isId(args.productId)) throw notFound(`Product ${args.productId} does not exist.`);
      const row = await ctx.db.write.transaction(async (tx) => {
        const updated = await addStock(tx, args.productId, args.delta);
        if (updated) await enqueue(tx, stockChanged(updated));
        return updated;
      });
      if (row) return row;
      const [existing] = await productsByIds(ctx.db.write, [args.productId]);
      if (!existing) throw notFound(`Product ${args.productId} does not exist.`);
      throw invalidState(`Stock cannot go below zero (now ${existing.stock}).`, { stock: existing.stock });
    },
  },
};
