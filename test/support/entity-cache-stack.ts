import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { createEntityCacheStep } from '../../gateway/cache/cached-fetcher.js';
import type { EntityCacheCounters } from '../../gateway/cache/cached-fetcher.js';
import type { LookupPolicy } from '../../gateway/cache/lookup-policy.js';
import { createTaggedStore } from '../../gateway/cache/tagged-store.js';
import type { TaggedStore } from '../../gateway/cache/tagged-store.js';
import { composeFetchStack } from '../../gateway/subgraph-fetch-stack.js';
import type { FetchStep, SendFetch } from '../../gateway/subgraph-fetch-stack.js';
import { createSubgraphFetcher } from '../../gateway/subgraph-fetcher.js';
import { createLogger } from '../../platform/logger.js';
import { createRedisClient } from '../../platform/redis-client.js';
import { createRedisGuard } from '../../platform/redis-guard.js';
import { eventually } from './eventually.js';

const through: FetchStep = (fetch, next) => next(fetch);

/**
 * The subgraph fetch stack with the entity cache as its only working step (every other step passes
 * the fetch on), over a tagged store of its own in the run's Redis, once that store is usable.
 * Without memory in front of Redis unless `localMaxBytes` says so; two stacks given the same
 * `prefix` share their entries as two gateways do.
 */
export async function startEntityCacheStack(
  subgraph: string,
  counters: EntityCacheCounters,
  policy?: LookupPolicy,
  opts: { localMaxBytes?: number; prefix?: string } = {},
): Promise<{ store: TaggedStore; send: SendFetch; prefix: string }> {
  const log = createLogger('test', 'silent');
  const prefix = opts.prefix ?? `test:${randomUUID()}:cache:`;
  const redis = createRedisClient({ REDIS_URL: inject('redis').url }, 'request', 'cache', log);
  const store = createTaggedStore({
    redis: createRedisGuard(redis, 'cache', log),
    prefix,
    localMaxBytes: opts.localMaxBytes ?? 0,
    eventSkewMs: 2_000,
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
