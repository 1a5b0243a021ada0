import type { Resolvers } from '../generated/resolvers.js';
import { assertCanSeePrivate } from './access.js';

export const userResolvers: Resolvers = {
  User: {
    /** Other subgraphs' User references (orders, invoices): batched per request. */
    __resolveReference: (ref, ctx) => ctx.loaders.userById.load(ref.id),
    /** Nullable: someone else's email is null with a FORBIDDEN error. */
    email(user, _args, ctx) {
      assertCanSeePrivate(ctx, user, 'email');
      return user.email;
    },
    /** Non-null: a FORBIDDEN here nulls the parent User (acceptable; the client asked for what it may not see). */
    role(user, _args, ctx) {
      assertCanSeePrivate(ctx, user, 'role');
      return user.role;
    },
    createdAt(user, _args, ctx) {
      assertCanSeePrivate(ctx, user, 'createdAt');
      return user.createdAt;
    },
  },
};
