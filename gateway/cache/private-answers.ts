import type { FetcherResponse } from '@apollo/utils.fetcher';
import { withHeader } from '../subgraph-fetcher.js';

/**
 * A subgraph's `private, max-age=N` is meant for the gateway's per-caller cache alone, which
 * domain events keep exact. A browser or proxy cache is not told of those events, so the caller's
 * response keeps saying what it said before private answers had a max-age: `no-store`. Applied to
 * every subgraph answer, whether or not the gateway's cache is on (gateway/cache/index.ts).
 */
export function maskPrivate(response: FetcherResponse): FetcherResponse {
  const cacheControl = response.headers.get('cache-control');
  if (!cacheControl || !/\bprivate\b/i.test(cacheControl)) return response;
  return withHeader(response, 'cache-control', 'no-store');
}
