import { GraphQLError } from 'graphql';
import { ANONYMOUS } from '../../platform/auth/identity.js';
import { unauthenticated } from '../../platform/errors.js';
import type { EdgeRequest } from '../request.js';
import type { ClientResolver } from './partner-keys.js';
import type { ClientAuth } from './user-token.js';

export { clientAddress } from './client-ip.js';
export type { TrustProxy } from './client-ip.js';
export { API_KEY_HEADER, createClientResolver, declaredClient, hashApiKey, mintPartnerKey } from './partner-keys.js';
export type { ClientResolver, PartnerKey } from './partner-keys.js';
export { createClientAuth } from './user-token.js';
export type { ClientAuth } from './user-token.js';

/**
 * Who is calling, as every transport presents it: headers (HTTP) or connectionParams with the
 * upgrade's headers (WebSocket), the Authorization value, and the address TRUST_PROXY allows.
 */
export interface Caller {
  requestId: string;
  ip: string | undefined;
  header: (name: string) => string | undefined;
  authorization: string | undefined;
}

export const invalidApiKeyError = () => unauthenticated('The API key is invalid or revoked.');

/**
 * Decides who the caller is, once: the partner (API key) or declared client, the user (token) and
 * the address. null: an API key was sent and is unknown or revoked (refused before anything runs).
 * The user token is verified (ES256 against the cached JWKS, well under a millisecond when cached),
 * not merely decoded: an unverified `sub` would let anyone pick a fresh rate-limit bucket per request.
 * A bad token does not refuse here: the request is still counted (against its IP), and each
 * transport then answers identityError (HTTP 401 from the Apollo context, WebSocket 4403).
 */
export function createIdentify(deps: { auth: ClientAuth; clientOf: ClientResolver }) {
  return async (caller: Caller): Promise<EdgeRequest | null> => {
    const client = deps.clientOf(caller.header, caller.requestId);
    if (!client) return null;
    const edge: EdgeRequest = {
      requestId: caller.requestId,
      ip: caller.ip,
      client,
      identity: ANONYMOUS,
      expiresAt: Number.POSITIVE_INFINITY,
    };
    try {
      Object.assign(edge, await deps.auth.identify(caller.authorization));
    } catch (err) {
      edge.identityError = err instanceof GraphQLError ? err : unauthenticated('The access token is invalid or expired.');
    }
    return edge;
  };
}
