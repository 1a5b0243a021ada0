import { z } from 'zod';
import { badInput } from '../../../platform/errors.js';
import { decodeCursor, parseFirst, toConnection } from '../../../platform/pagination.js';
import type { CursorValue } from '../../../platform/pagination.js';
import { isId, parseInput } from '../../../platform/validation.js';
import type { Resolvers } from '../generated/resolvers.js';
import { invoiceNewest } from '../db/queries.js';
import { assertMaySeeInvoicesOf } from './access.js';

const MAX_CURSOR_MS = Date.UTC(10_000, 0, 1);

/** A cursor is opaque but client-supplied: its parts must be a real timestamp and id before they reach SQL. */
function invoiceCursor(after: string | null | undefined): CursorValue[] | null {
  const cursor = decodeCursor(after, invoiceNewest.shape);
  if (!cursor) return null;
  const [at, id] = cursor as [string, string];
  const ms = Date.parse(at);
  if (!isId(id) || !(ms >= 0 && ms < MAX_CURSOR_MS)) throw badInput('after is not a cursor returned by this field.', { argument: 'after' });
  return [new Date(at).toISOString(), id];
}

const statusSchema = z.enum(['OPEN', 'PAID', 'VOID', 'REFUNDED']).nullish();

export const userResolvers: Resolvers = {
  User: {
    /** The user themself or an admin; newest first, optionally one status only. */
    async invoices(user, args, ctx) {
      assertMaySeeInvoicesOf(ctx, user.id);
      const first = parseFirst(args.first);
      const after = invoiceCursor(args.after);
      const status = parseInput(statusSchema, args.status, 'status') ?? null;
      const rows = await ctx.loaders.customerInvoices.load({ parentId: user.id, args: { limit: first + 1, after, status } });
      for (const row of rows) ctx.loaders.invoiceById.prime(row.id, row);
      return toConnection(rows, first, invoiceNewest.cursor);
    },
  },
};
