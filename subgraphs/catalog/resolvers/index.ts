import { DateTimeScalar } from '../../../platform/scalars.js';
import { mutationResolvers } from './mutation.js';
import { productResolvers } from './product.js';
import { queryResolvers } from './query.js';

export const resolvers = {
  DateTime: DateTimeScalar,
  ...queryResolvers,
  ...mutationResolvers,
  ...productResolvers,
};
