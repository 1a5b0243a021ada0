import type { OrderItemRow, OrderRow } from '../db/tables.js';
import type { OrdersContext } from '../context.js';

const money = (amountCents: number, currency: string) => ({ amountCents, currency });

export const orderResolvers = {
  Order: {
    /** Entity hops from other subgraphs (an invoice's order, subscription payloads): batched. */
    __resolveReference: (ref: { id: string }, ctx: OrdersContext) => ctx.loaders.orderById.load(ref.id),
    customer: (o: OrderRow) => ({ __typename: 'User', id: o.customerId }),
    items: (o: OrderRow, _args: unknown, ctx: OrdersContext) => ctx.loaders.orderItems.load(o.id),
    total: (o: OrderRow) => money(o.totalCents, o.currency),
  },
  OrderItem: {
    product: (i: OrderItemRow) => ({ __typename: 'Product', id: i.productId }),
    unitPrice: (i: OrderItemRow) => money(i.unitPriceCents, i.currency),
    lineTotal: (i: OrderItemRow) => money(i.unitPriceCents * i.quantity, i.currency),
  },
};
