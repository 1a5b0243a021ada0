import { DateTimeScalar } from '../../../platform/scalars.js';
import type { UsersDeps } from '../context.js';
import type { Resolvers } from '../generated/resolvers.js';
import { createMutationResolvers } from './mutation.js';
import { queryResolvers } from './query.js';
import { userResolvers } from './user.js';

/** signUp / logIn need the token issuer. */
export function createResolvers(deps: UsersDeps): Resolvers {
  return {
    DateTime: DateTimeScalar,
    ...queryResolvers,
    ...createMutationResolvers(deps),
    ...userResolvers,
  };
}
