import type { GraphQLError } from 'graphql';
import type { Identity } from '../platform/auth/identity.js';
import type { ReadFrom } from './cache/tagged-store.js';

/**
 * The request's types, in one file that imports no gateway module: the edge writes them, Apollo's
 * context carries them, the caches and the fetch layer read them. Kept apart so that no reader has
 * to import the writer (these types once tied context, edge, consistency, the response cache and
 * the partner keys into an import circle).
 */

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

/**
 * What the gateway's edge decided about one request (HTTP) or connection (WebSocket), once, before
 * anything else reads it: limits, persisted queries and the Apollo context take the caller from
 * here and never look at the Authorization or API-key headers themselves.
 */
export interface EdgeRequest {
  requestId: string;
  /** The client's address as TRUST_PROXY reads it (Express's `req.ip`, or the upgrade's equivalent). */
  ip: string | undefined;
  /** The partner (a valid API key) or the first-party client its headers declare. */
  client: ClientInfo;
  /** The verified caller; ANONYMOUS without a token, and while `identityError` is set. */
  identity: Identity;
  /** When the caller's token expires (epoch ms; never for anonymous): long-lived streams end then. */
  expiresAt: number;
  /**
   * A token was sent and is bad. An HTTP request still passes the edge (so it is counted, against
   * its IP) and the Apollo context then answers it with this error, as 401.
   */
  identityError?: GraphQLError;
}

/**
 * Read-your-writes positions of one request (implemented by gateway/consistency.ts's
 * ConsistencyState): what the fetch layer and the response cache need of it.
 */
export interface RequestConsistency {
  /** The client sent a valid token with positions: it reads its own writes (no cache may answer it). */
  readonly readsOwnWrites: boolean;
  /** The position to forward to one subgraph. */
  lsnFor(subgraph: string): string | undefined;
  /** A subgraph's `x-consistency-lsn` response header. */
  absorb(header: string | null | undefined, now?: number): void;
  /** A token to hand back: only when this request wrote something. */
  readonly newToken: string | undefined;
}

/**
 * What the subgraph fetches of one cacheable request said about their answers: the shortest
 * shared max-age, the entities they hold, and whether every one of them was public.
 */
export interface ResponseScope {
  fetches: number;
  cacheable: boolean;
  maxAgeMs: number;
  tags: Set<string>;
  /** Where the subgraph answers so far came from, the weakest of them (gateway/cache/tagged-store.ts FetchMark). */
  readFrom: ReadFrom | undefined;
}

/** Apollo's context for one operation. */
export interface GatewayContext {
  identity: Identity;
  requestId: string;
  client: ClientInfo;
  /** Read-your-writes positions (gateway/consistency.ts); absent for the gateway's own operations. */
  consistency?: RequestConsistency;
  /** The caller's address as TRUST_PROXY reads it (sign-in attempts per IP); absent for the gateway's own operations. */
  clientIp?: string;
  /** Set by the response cache on a cacheable request: what its subgraph fetches said about their answers. */
  responseCache?: ResponseScope;
  /** What the pipeline learnt about the operation (absent for the gateway's own operations). */
  facts?: OperationFacts;
}

/**
 * What Apollo's pipeline learnt about an operation that an answer given before the pipeline must
 * repeat (the response cache's edge hits, gateway/cache/edge-hits.ts), written by the plugin that
 * computed it. The same key always yields the same facts: they depend on the document, the
 * variables and the supergraph only, never on the caller.
 */
export interface OperationFacts {
  /** The operation's name as resolved from its document (telemetry's label and log line). */
  operationName?: string | null;
  /** Its static cost (limits/cost-budget.ts): what a partner's budget is charged. */
  cost?: number;
  /** Its field usage (usage/usage-plugin.ts), recorded again for each caller it is served to. */
  usage?: { operation: string; coordinates: readonly string[] };
}
