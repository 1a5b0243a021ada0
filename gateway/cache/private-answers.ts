import type { FetcherResponse } from '@apollo/utils.fetcher';

/**
 * A subgraph's `private, max-age=N` is meant for the gateway's per-caller cache alone, which
 * domain events keep exact. A browser or proxy cache is not told of those events, so the caller's
 * response keeps saying what it said before private answers had a max-age: `no-store`. Applied to
 * every subgraph answer, whether or not the gateway's cache is on (gateway/cache/index.ts).
 */
export function maskPrivate(response: FetcherResponse): FetcherResponse {
  const cacheControl = response.headers.get('cache-control');
  if (!cacheControl || !/\bprivate\b/i.test(cacheControl)) return response;
  return withCacheControl(response, 'no-store');
}

function withCacheControl(response: FetcherResponse, value: string): FetcherResponse {
  const headers = {
    get: (name: string) => (name.toLowerCase() === 'cache-control' ? value : response.headers.get(name)),
    has: (name: string) => name.toLowerCase() === 'cache-control' || response.headers.has(name),
    *[Symbol.iterator]() {
      for (const [k, v] of response.headers as unknown as Iterable<[string, string]>)
        yield [k, k.toLowerCase() === 'cache-control' ? value : v];
    },
  } as unknown as FetcherResponse['headers'];
  return new Proxy(response, {
    get(target, prop) {
      if (prop === 'headers') return headers;
      if (prop === 'clone') return () => withCacheControl(target.clone(), value);
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
