import type express from 'express';
import { GraphQLError } from 'graphql';
import { ANONYMOUS } from '../platform/auth/identity.js';
import type { Identity } from '../platform/auth/identity.js';
import { unauthenticated } from '../platform/errors.js';
import { sendErrors } from '../platform/http.js';
import type { ClientAuth } from './auth.js';
import type { ClientInfo } from './context.js';
import type { ClientResolver } from './persisted-queries/partner-keys.js';

/**
 * What the gateway's edge decided about one HTTP request, once, before anything else reads it:
 * rate limits, operation limits, persisted queries and the Apollo context all take the caller
 * from here and never look at the Authorization or API-key headers themselves.
 */
export interface EdgeRequest {
  requestId: string;
  /** The client's address as TRUST_PROXY reads it (Express's `req.ip`). */
  ip: string | undefined;
  /** The partner (a valid API key) or the first-party client its headers declare. */
  client: ClientInfo;
  /** The verified caller; ANONYMOUS without a token, and while `identityError` is set. */
  identity: Identity;
  /** When the caller's token expires (epoch ms; never for anonymous): long-lived streams end then. */
  expiresAt: number;
  /**
   * A token was sent and is bad. The request still passes the edge (so it is counted, against its
   * IP) and the Apollo context then answers it with this error, as 401.
   */
  identityError?: GraphQLError;
}

/** The key of res.locals the edge writes once; read it through edgeOf. */
const EDGE = 'edge';

/** The edge's decision for this response's request; the edge middleware runs before every reader. */
export function edgeOf(res: express.Response): EdgeRequest {
  const edge = res.locals[EDGE] as EdgeRequest | undefined;
  if (!edge) throw new Error('edgeOf: the edge middleware did not run for this request');
  return edge;
}

export const invalidApiKeyError = () => unauthenticated('The API key is invalid or revoked.');

/**
 * The first edge middleware on /graphql. An API key that is unknown or revoked is refused here
 * (401, before anything else runs). The user token is verified here, once (createClientAuth:
 * ES256 against the cached JWKS, well under a millisecond when the JWKS is cached), not merely
 * decoded: an unverified `sub` would let anyone pick a fresh rate-limit bucket per request.
 */
export function createEdgeMiddleware(deps: { auth: ClientAuth; clientOf: ClientResolver }): express.RequestHandler {
  return async (req, res, next) => {
    const requestId = res.locals.requestId as string;
    const client = deps.clientOf((name) => req.header(name), requestId);
    if (!client) {
      sendErrors(res, 401, invalidApiKeyError());
      return;
    }
    const edge: EdgeRequest = { requestId, ip: req.ip, client, identity: ANONYMOUS, expiresAt: Number.POSITIVE_INFINITY };
    try {
      Object.assign(edge, await deps.auth.identify(req.header('authorization')));
    } catch (err) {
      edge.identityError = err instanceof GraphQLError ? err : unauthenticated('The access token is invalid or expired.');
    }
    res.locals[EDGE] = edge;
    next();
  };
}
