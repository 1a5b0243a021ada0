import { DateTimeScalar } from '../../../platform/scalars.js';
import type { Resolvers } from '../generated/resolvers.js';
import { mutationResolvers } from './mutation.js';
import { productResolvers } from './product.js';
import { queryResolvers } from './query.js';

/** Catalog's resolvers need nothing beyond the request context (their deps would be empty). */
export function createResolvers(): Resolvers {
  return {
    DateTime: DateTimeScalar,
    ...queryResolvers,
    ...mutationResolvers,
    ...productResolvers,
  };
}
