import type { Identity } from '../platform/auth/identity.js';
import type { ConsistencyState } from './consistency.js';
import type { EdgeRequest } from './edge.js';
import type { ResponseScope } from './cache/response-cache.js';

/** Which application is calling: first-party apps name themselves; partners are known by their API key. */
export interface ClientInfo {
  /** `apollographql-client-name`, or the partner's name once its API key is verified. */
  name: string | null;
  version: string | null;
  /** Set only when a valid partner API key came with the request. */
  partnerId: string | null;
  /** The partner's own limits from the client registry; a field absent is the configured default. */
  limits?: PartnerLimits;
}

export interface PartnerLimits {
  requestsPerWindow?: number;
  costBudgetPerMinute?: number;
}

export interface GatewayContext {
  identity: Identity;
  requestId: string;
  client: ClientInfo;
  /** Read-your-writes positions (gateway/consistency.ts); absent for the gateway's own operations. */
  consistency?: ConsistencyState;
  /** The caller's address as TRUST_PROXY reads it (sign-in attempts per IP); absent for the gateway's own operations. */
  clientIp?: string;
  /** Set by the response cache on a cacheable request: what its subgraph fetches said about their answers. */
  responseCache?: ResponseScope;
}

/** The Apollo context of an HTTP request, from what the edge decided; a bad token is answered 401 here. */
export function contextFromEdge(edge: EdgeRequest, consistency: ConsistencyState): GatewayContext {
  if (edge.identityError) {
    // Apollo turns a context error into the response; 401 tells clients to sign in again.
    edge.identityError.extensions.http = { status: 401 };
    throw edge.identityError;
  }
  return { identity: edge.identity, clientIp: edge.ip, requestId: edge.requestId, client: edge.client, consistency };
}
