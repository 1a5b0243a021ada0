import { DateTimeScalar } from '../../../platform/scalars.js';
import type { BillingDeps } from '../context.js';
import type { Resolvers } from '../generated/resolvers.js';
import { invoiceResolvers } from './invoice.js';
import { createMutationResolvers } from './mutation.js';
import { orderResolvers } from './order.js';
import { paymentResolvers } from './payment.js';
import { queryResolvers } from './query.js';
import { userResolvers } from './user.js';

/** A factory (unlike catalog's constant): mutations need the payment provider and the orders client. */
export function createResolvers(deps: BillingDeps): Resolvers {
  return {
    DateTime: DateTimeScalar,
    ...queryResolvers,
    ...createMutationResolvers(deps),
    ...invoiceResolvers,
    ...paymentResolvers,
    ...orderResolvers,
    ...userResolvers,
  };
}
