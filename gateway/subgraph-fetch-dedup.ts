import type { FetcherResponse } from '@apollo/utils.fetcher';
import { REQUEST_ID_HEADER } from '../platform/http.js';
import { READ_SOURCE_HEADER } from '../platform/lsn.js';
import type { FetchStep, SubgraphFetch } from './subgraph-fetch-stack.js';
import { withHeader } from './subgraph-fetcher.js';

/**
 * A fetch's identity for sharing: the URL, the body and every header except the request id (a
 * label for logs, not an input of the answer). The service token is among the headers, so only
 * fetches made for the same caller identity can meet; the caller's key is added all the same, so a
 * token cached across identities could never join two callers' fetches.
 */
function flightKey(fetch: SubgraphFetch): string | undefined {
  const { body, headers, method } = fetch.init;
  if (typeof body !== 'string') return undefined;
  let key = `${method ?? 'GET'} ${fetch.url}\n${fetch.caller ?? ''}\n${body}`;
  const entries = headers ? Object.entries(headers) : [];
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [name, value] of entries) if (name.toLowerCase() !== REQUEST_ID_HEADER) key += `\n${name.toLowerCase()}:${value}`;
  return key;
}

/**
 * A waiter's own copy of the shared answer, without READ_SOURCE_HEADER: the subgraph read it for
 * the first fetch, maybe before this waiter's caches marked the start of theirs, so it must not
 * claim the exemption a fresh read from the primary gets (gateway/cache/tagged-store.ts FetchMark).
 */
function joinerCopy(response: FetcherResponse): FetcherResponse {
  return withHeader(response.clone(), READ_SOURCE_HEADER, null);
}

interface Flight {
  waiters: { resolve(response: FetcherResponse): void; reject(err: unknown): void }[];
}

/**
 * In-flight deduplication (the `dedup` step of SUBGRAPH_FETCH_STACK): while a query fetch is on its
 * way down the stack, an identical one (same URL, body and headers) waits for it instead of
 * sending its own, as Hive Gateway and the Apollo Router do. A burst of anonymous storefront
 * requests then costs the subgraph one fetch. Mutations are never shared (each must run), nor
 * read-your-writes fetches (each must reach the subgraph at its own position).
 *
 * A FetcherResponse body can be read once: each waiter gets its own `clone()`, made the moment the
 * answer arrives, before the first fetch's caller can read it. A failure (after the retries below)
 * is every waiter's failure. The shared fetch carries the first request's id.
 */
export function createDedupStep(opts: { onShared(): void }): FetchStep {
  const flights = new Map<string, Flight>();
  return (fetch, next) => {
    if (fetch.operation !== 'query' || fetch.lsn) return next(fetch);
    const key = flightKey(fetch);
    if (key === undefined) return next(fetch);
    const joined = flights.get(key);
    if (joined) {
      opts.onShared();
      return new Promise<FetcherResponse>((resolve, reject) => joined.waiters.push({ resolve, reject }));
    }
    const flight: Flight = { waiters: [] };
    flights.set(key, flight);
    let sent: Promise<FetcherResponse>;
    try {
      sent = next(fetch);
    } catch (err) {
      flights.delete(key);
      return Promise.reject(err);
    }
    return sent.then(
      (response) => {
        flights.delete(key);
        for (const waiter of flight.waiters) waiter.resolve(joinerCopy(response));
        return response;
      },
      (err: unknown) => {
        flights.delete(key);
        for (const waiter of flight.waiters) waiter.reject(err);
        throw err;
      },
    );
  };
}
