import type { Resolvers } from '../generated/resolvers.js';

const money = (amountCents: number, currency: string) => ({ amountCents, currency });

export const orderResolvers: Resolvers = {
  Order: {
    /** Entity hops from other subgraphs (an invoice's order, subscription payloads): batched. */
    __resolveReference: (ref, ctx) => ctx.loaders.orderById.load(ref.id),
    customer: (o) => ({ __typename: 'User', id: o.customerId }),
    items: (o, _args, ctx) => ctx.loaders.orderItems.load(o.id),
    total: (o) => money(o.totalCents, o.currency),
  },
  OrderItem: {
    product: (i) => ({ __typename: 'Product', id: i.productId }),
    unitPrice: (i) => money(i.unitPriceCents, i.currency),
    lineTotal: (i) => money(i.unitPriceCents * i.quantity, i.currency),
  },
};
