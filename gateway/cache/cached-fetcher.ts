import { createHash } from 'node:crypto';
import type { Fetcher, FetcherResponse } from '@apollo/utils.fetcher';
import { CACHE_TAGS_HEADER, UNTAGGABLE } from '../../platform/cache-tags.js';
import { CONSISTENCY_LSN_HEADER } from '../../platform/lsn.js';
import { respond } from '../subgraph-fetcher.js';
import type { FetchMark, TaggedStore } from './tagged-store.js';

/** What a subgraph's Cache-Control header allows: only `public` with a max-age is shared. */
export function sharedMaxAgeMs(cacheControl: string | null): number {
  if (!cacheControl || !/\bpublic\b/i.test(cacheControl) || /\b(private|no-store|no-cache)\b/i.test(cacheControl)) return 0;
  const m = /\bmax-age=(\d+)/i.exec(cacheControl);
  return m ? Number(m[1]) * 1000 : 0;
}

export interface FetchCacheCounters {
  hit(subgraph: string): void;
  miss(subgraph: string): void;
}

/** Remembered per fetch shape (subgraph + operation text): was its last answer cacheable? Bounded. */
function createShapeMemo(limit = 5_000) {
  const memo = new Map<string, boolean>();
  return {
    get: (shape: string) => memo.get(shape),
    set(shape: string, cacheable: boolean) {
      if (memo.size >= limit && !memo.has(shape)) memo.clear();
      memo.set(shape, cacheable);
    },
  };
}

/** The operation text of a fetch body (`{"query":"…","variables":…}`): the part before the variables. */
const shapeOf = (subgraph: string, body: string) => {
  const at = body.indexOf(',"variables":');
  return subgraph + '\n' + (at < 0 ? body : body.slice(0, at));
};

/**
 * The entity cache, at the subgraph fetch: a query fetch whose answer the subgraph declared
 * `public` with a max-age (its @cacheControl hints, as its Cache-Control header) is kept in the
 * tagged store under (subgraph, operation text, variables), for that max-age, tagged with the
 * entities the subgraph said it holds. Representations are variables, so `_entities` fetches of
 * the same entities inside any operation, private ones included, share an entry; an answer that
 * depends on the caller is never `public` (no hint means maxAge 0), so it is never stored.
 *
 * Looked up only for shapes whose last answer was cacheable (no Redis round trip for the rest);
 * never for mutations, answers with errors, or a request that carries a read-your-writes position
 * (the caller just wrote: it reads from the subgraph).
 */
export function createCachedFetcher(
  subgraph: string,
  fetcher: Fetcher,
  store: TaggedStore,
  counters: FetchCacheCounters,
  maxTtlMs: number,
): Fetcher {
  const shapes = createShapeMemo();
  return async (url, init) => {
    const body = init?.body;
    const headers: Record<string, string> = init?.headers ?? {};
    if (typeof body !== 'string' || body.startsWith('{"query":"mutation') || headers[CONSISTENCY_LSN_HEADER] || !store.usable())
      return fetcher(url, init);
    const shape = shapeOf(subgraph, body);
    const key = 'f:' + createHash('sha256').update(subgraph).update('\n').update(body).digest('base64url');
    if (shapes.get(shape)) {
      const hit = await store.get(key);
      if (hit) {
        counters.hit(subgraph);
        const cacheControl = `max-age=${Math.max(0, Math.floor(hit.ttlMs / 1000))}, public`;
        return respond(
          url,
          200,
          'OK',
          { 'content-type': 'application/json', 'cache-control': cacheControl, [CACHE_TAGS_HEADER]: hit.tags },
          Buffer.from(hit.body),
        );
      }
      counters.miss(subgraph);
    }
    const since = store.begin();
    const response = await fetcher(url, init);
    return remember(response, { store, shapes, shape, key, since, maxTtlMs });
  };
}

async function remember(
  response: FetcherResponse,
  ctx: { store: TaggedStore; shapes: ReturnType<typeof createShapeMemo>; shape: string; key: string; since: FetchMark; maxTtlMs: number },
): Promise<FetcherResponse> {
  const maxAgeMs = response.status === 200 ? Math.min(ctx.maxTtlMs, sharedMaxAgeMs(response.headers.get('cache-control'))) : 0;
  const tags = response.headers.get(CACHE_TAGS_HEADER) ?? '';
  const cacheable = maxAgeMs > 0 && tags !== UNTAGGABLE;
  ctx.shapes.set(ctx.shape, cacheable);
  if (!cacheable) return response;
  const text = await response.clone().text();
  // Conservative: any "errors" member (or the word in data) and the answer is not kept.
  if (!text.includes('"errors"')) void ctx.store.put(ctx.key, text, tags ? tags.split(' ') : [], maxAgeMs, ctx.since);
  return response;
}
