import type { ConsistencyState } from './consistency.js';
import type { EdgeRequest, GatewayContext } from './request.js';

// The request's types live in gateway/request.ts; re-exported for the modules that still import them from here.
export type { ClientInfo, GatewayContext, PartnerLimits } from './request.js';

/** The Apollo context of an HTTP request, from what the edge decided; a bad token is answered 401 here. */
export function contextFromEdge(edge: EdgeRequest, consistency: ConsistencyState): GatewayContext {
  if (edge.identityError) {
    // Apollo turns a context error into the response; 401 tells clients to sign in again.
    edge.identityError.extensions.http = { status: 401 };
    throw edge.identityError;
  }
  return { identity: edge.identity, clientIp: edge.ip, requestId: edge.requestId, client: edge.client, consistency, facts: {} };
}
