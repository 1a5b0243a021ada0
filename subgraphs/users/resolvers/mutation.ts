import { z } from 'zod';
import { requireUser } from '../../../platform/auth/identity.js';
import { ErrorCode, appError, notFound } from '../../../platform/errors.js';
import { isUniqueViolation } from '../../../platform/db-errors.js';
import { isId, parseInput } from '../../../platform/validation.js';
import type { UsersDeps } from '../context.js';
import { insertUser, updateUserName, userByEmail } from '../db/queries.js';
import type { UserRow } from '../db/tables.js';
import type { Resolvers } from '../generated/resolvers.js';
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from '../passwords.js';
import { asOwnRow } from './access.js';

const name = z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters');

const signUpSchema = z.object({
  // Trimmed, then checked; stored with the case the user typed (uniqueness ignores case).
  email: z.string().trim().max(254, 'must be at most 254 characters').pipe(z.email('must be a valid email address')),
  name,
  // The upper bound keeps a single request from making scrypt chew on megabytes.
  password: z.string().min(10, 'must be at least 10 characters').max(1000, 'must be at most 1000 characters'),
});

/** Only sizes are checked: anything else wrong is simply "invalid credentials". */
const logInSchema = z.object({
  email: z.string().trim().max(254, 'must be at most 254 characters'),
  password: z.string().max(1000, 'must be at most 1000 characters'),
});

const updateProfileSchema = z.object({ name });

/** One error, one message for a wrong email and a wrong password alike. */
const invalidCredentials = () => appError(ErrorCode.INVALID_CREDENTIALS, 'The email or password is incorrect.');

export function createMutationResolvers(deps: UsersDeps): Resolvers {
  const authPayload = async (user: UserRow) => ({ token: await deps.tokens.issue(user), user: asOwnRow(user) });

  return {
    Mutation: {
      async signUp(_, args, ctx) {
        const input = parseInput(signUpSchema, args.input);
        const passwordHash = await hashPassword(input.password);
        let user: UserRow;
        try {
          user = await insertUser(ctx.db.write, { email: input.email, name: input.name, role: 'CUSTOMER', passwordHash });
        } catch (err) {
          if (isUniqueViolation(err, 'users_email_lower_idx')) {
            throw appError(ErrorCode.EMAIL_TAKEN, 'An account with this email already exists.', { field: 'input.email' });
          }
          throw err;
        }
        return authPayload(user);
      },

      async logIn(_, args, ctx) {
        const input = parseInput(logInSchema, args.input);
        const user = await userByEmail(ctx.db.write, input.email);
        // Always one scrypt run: an unknown email costs as much as a wrong password.
        const ok = await verifyPassword(input.password, user?.passwordHash ?? DUMMY_PASSWORD_HASH);
        if (!user || !ok) throw invalidCredentials();
        return authPayload(user);
      },

      async updateProfile(_, args, ctx) {
        const { userId } = requireUser(ctx.identity);
        const input = parseInput(updateProfileSchema, args.input);
        // A token from the external identity provider may name someone with no account here.
        const row = isId(userId) ? await updateUserName(ctx.db.write, userId, input.name) : undefined;
        if (!row) throw notFound('Your account does not exist in this service.');
        return row;
      },
    },
  };
}
