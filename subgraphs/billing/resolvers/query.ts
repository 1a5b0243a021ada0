import type { Resolvers } from '../generated/resolvers.js';
import { visibleInvoice } from './access.js';

export const queryResolvers: Resolvers = {
  Query: {
    invoice: (_, { id }, ctx) => visibleInvoice(ctx, id),
  },
};
