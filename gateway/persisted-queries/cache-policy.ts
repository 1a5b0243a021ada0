import type { ApolloServerPlugin } from '@apollo/server';
import { OperationTypeNode } from 'graphql';
import type { GatewayContext } from '../request.js';

/**
 * Narrows the response's cache policy before Apollo's cache-control plugin writes it as the
 * `Cache-Control` header. The policy itself is the strictest of the subgraphs' Cache-Control
 * headers (computed there from `@cacheControl` hints; RemoteGraphQLDataSource's
 * `honorSubgraphCacheControlHeader` merges them), so user data, which carries no hint, is already
 * `no-store`. On top of that:
 *
 * - Only a GET query may be stored: a POST (or a mutation) is `no-store`. Caches do not reuse POST
 *   responses anyway, and saying so keeps a misbehaving proxy from trying.
 * - A response computed for a signed-in caller or a partner is at most `private`: even data hinted
 *   public must not be handed by a CDN to someone who skipped the token or API key check.
 *
 * Both are `restrict` calls on the policy (minimum maxAge, PRIVATE wins), so the order in which
 * plugins and subgraph responses arrive does not matter.
 *
 * Every answer names the request headers its form and content depend on (`Vary`): `Accept`
 * (multipart or JSON), `Authorization` (public or private, whose data) and `Origin` (CORS). A CDN
 * keying on the URL alone would otherwise hand one client's form to another.
 */
export const VARY = ['Accept', 'Authorization', 'Origin'];

/** An existing Vary value plus `names`, each once (case-insensitive, as HTTP field names are). */
export function withVary(existing: string | undefined, names: string[]): string {
  const all = [...(existing ?? '').split(','), ...names].map((v) => v.trim()).filter(Boolean);
  const seen = new Set<string>();
  return all.filter((v) => !seen.has(v.toLowerCase()) && seen.add(v.toLowerCase())).join(', ');
}

export function createCachePolicyPlugin(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, operation, contextValue, overallCachePolicy }) {
          if (request.http?.method !== 'GET' || operation?.operation !== OperationTypeNode.QUERY) {
            overallCachePolicy.restrict({ maxAge: 0 });
          }
          const signedIn = contextValue.identity.userId !== null || request.http?.headers.has('authorization');
          if (signedIn || contextValue.client.partnerId !== null) {
            overallCachePolicy.restrict({ scope: 'PRIVATE' });
          }
        },
        async willSendResponse({ response }) {
          response.http.headers.set('vary', withVary(response.http.headers.get('vary'), VARY));
        },
      };
    },
  };
}
