import { DateTimeScalar } from '../../../platform/scalars.js';
import type { OrdersServices } from '../context.js';
import { createMutationResolvers } from './mutation.js';
import { orderResolvers } from './order.js';
import { productResolvers } from './product.js';
import { queryResolvers } from './query.js';
import { userResolvers } from './user.js';

/** Resolvers close over the service clients mutations send commands to. */
export function createResolvers(services: OrdersServices) {
  return {
    DateTime: DateTimeScalar,
    ...queryResolvers,
    ...createMutationResolvers(services),
    ...orderResolvers,
    ...userResolvers,
    ...productResolvers,
  };
}
