import { DateTimeScalar } from '../../../platform/scalars.js';
import type { OrdersDeps } from '../context.js';
import type { Resolvers } from '../generated/resolvers.js';
import { createMutationResolvers } from './mutation.js';
import { orderResolvers } from './order.js';
import { productResolvers } from './product.js';
import { queryResolvers } from './query.js';
import { userResolvers } from './user.js';

/** placeOrder needs the catalog client it reserves stock through. */
export function createResolvers(deps: OrdersDeps): Resolvers {
  return {
    DateTime: DateTimeScalar,
    ...queryResolvers,
    ...createMutationResolvers(deps),
    ...orderResolvers,
    ...userResolvers,
    ...productResolvers,
  };
}
