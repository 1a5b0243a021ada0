import type { UsersContext } from '../context.js';
import type { UserRow } from '../db/tables.js';
import { assertCanSeePrivate } from './access.js';

export const userResolvers = {
  User: {
    /** Other subgraphs' User references (orders, invoices): batched per request. */
    __resolveReference: (ref: { id: string }, ctx: UsersContext) => ctx.loaders.userById.load(ref.id),
    /** Nullable: someone else's email is null with a FORBIDDEN error. */
    email(user: UserRow, _args: unknown, ctx: UsersContext) {
      assertCanSeePrivate(ctx, user, 'email');
      return user.email;
    },
    /** Non-null: a FORBIDDEN here nulls the parent User (acceptable; the client asked for what it may not see). */
    role(user: UserRow, _args: unknown, ctx: UsersContext) {
      assertCanSeePrivate(ctx, user, 'role');
      return user.role;
    },
    createdAt(user: UserRow, _args: unknown, ctx: UsersContext) {
      assertCanSeePrivate(ctx, user, 'createdAt');
      return user.createdAt;
    },
  },
};
