import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inject } from 'vitest';
import { createEntityCacheStep } from '../../gateway/cache/cached-fetcher.js';
import type { EntityCacheCounters } from '../../gateway/cache/cached-fetcher.js';
import type { LookupPolicy } from '../../gateway/cache/lookup-policy.js';
import { createTaggedStore } from '../../gateway/cache/tagged-store.js';
import type { TaggedStore } from '../../gateway/cache/tagged-store.js';
import { composeFetchStack } from '../../gateway/subgraph-fetch-stack.js';
import type { FetchStep, SendFetch } from '../../gateway/subgraph-fetch-stack.js';
import { createSubgraphFetcher } from '../../gateway/subgraph-fetcher.js';
import { CACHE_TAGS_HEADER } from '../../platform/cache-tags.js';
import { createLogger } from '../../platform/logger.js';
import { createRedisClient } from '../../platform/redis-client.js';
import { createRedisGuard } from '../../platform/redis-guard.js';
import { eventually } from './eventually.js';

const through: FetchStep = (fetch, next) => next(fetch);

/**
 * The subgraph fetch stack with the entity cache as its only working step (every other step passes
 * the fetch on), over a tagged store of its own in the run's Redis, once that store is usable.
 * Without memory in front of Redis unless `localMaxBytes` says so; two stacks given the same
 * `prefix` share their entries as two gateways do; `rememberMs` shortens how long the store
 * remembers events (and so how long its memory vouches for an entry).
 */
export async function startEntityCacheStack(
  subgraph: string,
  counters: EntityCacheCounters,
  policy?: LookupPolicy,
  opts: { localMaxBytes?: number; prefix?: string; rememberMs?: number } = {},
): Promise<{ store: TaggedStore; send: SendFetch; prefix: string }> {
  const log = createLogger('test', 'silent');
  const prefix = opts.prefix ?? `test:${randomUUID()}:cache:`;
  const redis = createRedisClient({ REDIS_URL: inject('redis').url }, 'request', 'cache', log);
  const store = createTaggedStore({
    redis: createRedisGuard(redis, 'cache', log),
    prefix,
    localMaxBytes: opts.localMaxBytes ?? 0,
    eventSkewMs: 2_000,
    ...(opts.rememberMs === undefined ? {} : { rememberMs: opts.rememberMs }),
    log,
  });
  const fetcher = createSubgraphFetcher({ timeoutMs: 5_000 });
  const send = composeFetchStack(
    {
      'entity-cache': createEntityCacheStep(subgraph, store, counters, 60_000, policy),
      dedup: through,
      retries: through,
      breaker: through,
      deadline: through,
      metrics: through,
    },
    (fetch) => fetcher(fetch.url, fetch.init),
  );
  await eventually(async () => (store.usable() ? true : undefined), { timeoutMs: 30_000 });
  return { store, send, prefix };
}

/** A subgraph-like server on loopback answering `product(n)` with a public max-age and its cache tag, counting what it served. */
export async function startProductSubgraph(): Promise<{ url: string; served(): number; close(): Promise<void> }> {
  let served = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      served += 1;
      const { n } = (JSON.parse(body) as { variables: { n: number } }).variables;
      res
        .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60, public', [CACHE_TAGS_HEADER]: `Product:${n}` })
        .end(JSON.stringify({ data: { product: { id: String(n) } } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    served: () => served,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The body of the fetch of product `n` (what the entity cache keys it by). */
export const productFetchBody = (n: number) =>
  JSON.stringify({ query: 'query Product__catalog__0($n: Int!) { product(n: $n) { id } }', variables: { n } });

/** One anonymous fetch of product `n` from `url` through a stack; the id it answers with. */
export async function fetchProductId(send: SendFetch, url: string, n: number): Promise<string> {
  const response = await send({
    subgraph: 'catalog',
    operation: 'query',
    caller: null,
    lsn: undefined,
    requestId: undefined,
    url,
    init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: productFetchBody(n) },
  });
  return ((await response.json()) as { data: { product: { id: string } } }).data.product.id;
}
