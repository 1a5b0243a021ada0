import { z } from 'zod';
import { isSelfOrAdmin, requireUser } from '../../../platform/auth/identity.js';
import { forbidden } from '../../../platform/errors.js';
import { decodeCursor, parseFirst, toConnection } from '../../../platform/pagination.js';
import { parseInput } from '../../../platform/validation.js';
import type { BillingContext } from '../context.js';
import { invoiceNewest } from '../db/queries.js';

const statusSchema = z.enum(['OPEN', 'PAID', 'VOID', 'REFUNDED']).nullish();

export const userResolvers = {
  User: {
    /** The user themself or an admin; newest first, optionally one status only. */
    async invoices(user: { id: string }, args: { first?: number | null; after?: string | null; status?: string | null }, ctx: BillingContext) {
      requireUser(ctx.identity);
      if (!isSelfOrAdmin(ctx.identity, user.id)) throw forbidden("Only the user themself or an admin may see a user's invoices.");
      const first = parseFirst(args.first);
      const after = decodeCursor(args.after, invoiceNewest.shape);
      const status = parseInput(statusSchema, args.status, 'status') ?? null;
      const rows = await ctx.loaders.customerInvoices.load({ parentId: user.id, args: { limit: first + 1, after, status } });
      for (const row of rows) ctx.loaders.invoiceById.prime(row.id, row);
      return toConnection(rows, first, invoiceNewest.cursor);
    },
  },
};
