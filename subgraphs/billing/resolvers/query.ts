import type { BillingContext } from '../context.js';
import { visibleInvoice } from './access.js';

export const queryResolvers = {
  Query: {
    invoice: (_: unknown, { id }: { id: string }, ctx: BillingContext) => visibleInvoice(ctx, id),
  },
};
