import { GraphQLError } from 'graphql';
import { ErrorCode } from '../../platform/errors.js';

/** Apollo Router's code for a field removed by @authenticated / @requiresScopes; kept as detail only. */
export const ROUTER_AUTHORIZATION_CODE = 'UNAUTHORIZED_FIELD_OR_TYPE';

/**
 * The one place that decides how a field the caller may not read is reported. `extensions.code` is
 * the contract's: UNAUTHENTICATED for an anonymous caller (sign in and retry), FORBIDDEN for a
 * signed-in caller without the role or scope (retrying will not help). Clients written against the
 * contract branch on exactly these. Apollo Router's own code and the field's coordinate go into
 * `extensions.authorization`, for tooling that knows the Router's shape.
 */
export function authorizationDenied(caller: { authenticated: boolean }, coordinate: string, path: readonly string[]): GraphQLError {
  const code = caller.authenticated ? ErrorCode.FORBIDDEN : ErrorCode.UNAUTHENTICATED;
  const message = caller.authenticated ? `You are not allowed to read ${coordinate}.` : `You must be signed in to read ${coordinate}.`;
  return new GraphQLError(message, {
    path,
    extensions: { code, authorization: { code: ROUTER_AUTHORIZATION_CODE, coordinate } },
  });
}
