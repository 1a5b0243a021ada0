import { RemoteGraphQLDataSource } from '@apollo/gateway';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { Fetcher } from '@apollo/utils.fetcher';
import { INTERNAL_TOKEN_HEADER } from '../platform/auth/service-token.js';
import type { ServiceTokenSigner } from '../platform/auth/service-token.js';
import { REQUEST_ID_HEADER } from '../platform/http.js';
import { createSubgraphFetcher } from './subgraph-fetcher.js';
import { CONSISTENCY_LSN_HEADER } from '../platform/lsn.js';
import type { GatewayContext } from './context.js';

/**
 * How the gateway calls a subgraph: Node's fetch (undici: pooled keep-alive connections), a
 * timeout per fetch, and a service token that carries the caller's identity. The client's own
 * headers are never forwarded, so nothing a client sends can pose as the gateway.
 */
export function createSubgraphSource(
  url: string,
  signer: ServiceTokenSigner,
  timeoutMs: number,
  name?: string,
  /** Wraps the fetcher (metrics and trace propagation: platform/observability/subgraph-fetch.ts). */
  instrument: (fetcher: Fetcher) => Fetcher = (fetcher) => fetcher,
) {
  // node:http keep-alive pool rather than the global fetch: measured cheaper (gateway/subgraph-fetcher.ts).
  const fetcher: Fetcher = createSubgraphFetcher({ timeoutMs });
  return new RemoteGraphQLDataSource<GatewayContext>({
    url,
    fetcher: instrument(fetcher),
    async willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>) {
      const identity = 'identity' in context && context.identity ? context.identity : null;
      if (!identity) return; // health checks and other calls outside a client request
      request.http?.headers.set(INTERNAL_TOKEN_HEADER, await signer.sign(identity));
      if (context.requestId) request.http?.headers.set(REQUEST_ID_HEADER, context.requestId);
      // Read-your-writes: this subgraph's position from the client's token (and this request's writes so far).
      const lsn = name && 'consistency' in context ? context.consistency?.lsnFor(name) : undefined;
      if (lsn) request.http?.headers.set(CONSISTENCY_LSN_HEADER, lsn);
    },
    async didReceiveResponse({ response, context }) {
      if ('consistency' in context) context.consistency?.absorb(response.http?.headers.get(CONSISTENCY_LSN_HEADER));
      return response;
    },
  });
}
