import type { ApolloServerPlugin } from '@apollo/server';
import { Counter } from 'prom-client';
import type { GatewayConfig } from '../../platform/config.js';
import { EVENT_STREAMS, invalidatedBy } from '../../platform/events/types.js';
import type { EventType } from '../../platform/events/types.js';
import type { Logger } from '../../platform/logger.js';
import type { ServiceMetrics } from '../../platform/observability/index.js';
import type { GatewayContext } from '../context.js';
import type { LiveEvents } from '../subscriptions/live-events.js';
import { createFactsMemo, createResponseCachePlugin } from './response-cache.js';
import { createEdgeHits } from './edge-hits.js';
import type { EdgeHitDeps, EdgeHits } from './edge-hits.js';
import { createEntityCacheStep } from './cached-fetcher.js';
import type { EntityCacheCounters } from './cached-fetcher.js';
import { createLookupPolicy } from './lookup-policy.js';
import type { FetchStep } from '../subgraph-fetch-stack.js';
import { createTaggedStore } from './tagged-store.js';
import { maskPrivate } from './private-answers.js';
import { createRedisClient, redisConfigured } from '../../platform/redis-client.js';
import { createRedisGuard } from '../../platform/redis-guard.js';
import type { RedisStatus } from '../../platform/redis-guard.js';

export interface GatewayCache {
  /** The entity cache step of a subgraph's fetch stack (private max-ages masked only, when the cache is off). */
  entityCache(subgraph: string): FetchStep;
  /** The response cache (nothing when it is off): its plugin, and its hits answered at the edge, before express and Apollo (hit-lane.ts). */
  responseCache(deps: Omit<EdgeHitDeps, 'counted'>): {
    plugins: ApolloServerPlugin<GatewayContext>[];
    hits: EdgeHits | null;
  };
  /** The cache's Redis connection (none when the cache is off). */
  redisStatus(): RedisStatus[];
  close(): Promise<void>;
}

/** No cache: subgraph answers pass through, private max-ages masked all the same. */
const off: GatewayCache = {
  entityCache: () => async (fetch, next) => maskPrivate(await next(fetch)),
  responseCache: () => ({ plugins: [], hits: null }),
  redisStatus: () => [],
  close: async () => {},
};

/** The caches' hit/miss and invalidation counters. */
function cacheCounters(metrics: ServiceMetrics) {
  const registers = [metrics.registry];
  const lookups = new Counter({
    name: 'gateway_entity_cache_total',
    help: 'Entity cache lookups of cacheable subgraph fetches (one per representation of an _entities fetch), by subgraph, scope (public, private) and result: hit, miss, or skipped (not looked up where it could not pay: a private entry of a caller whose previous request kept nothing, a shape without a hit in its last 200 lookups and minute (5 s if public), only probed).',
    labelNames: ['subgraph', 'scope', 'result'] as const,
    registers,
  });
  const responses = new Counter({
    name: 'gateway_response_cache_total',
    help: 'Response cache lookups of public operations, by result (hit, miss) and where they were answered: path="edge" right after the edge, from memory, before Apollo\'s pipeline; path="pipeline" inside it.',
    labelNames: ['result', 'path'] as const,
    registers,
  });
  const invalidations = new Counter({
    name: 'gateway_cache_invalidations_total',
    help: 'Entity tags invalidated by the domain events this gateway received, by event type.',
    labelNames: ['event'] as const,
    registers,
  });
  return { lookups, responses, invalidations };
}

/** A request-path client with the cache's own deadline (CACHE_TIMEOUT_MS: a miss costs a subgraph fetch), behind a breaker of its own. */
const cacheConnection = (config: GatewayConfig, log: Logger) =>
  createRedisGuard(createRedisClient(config, 'request', 'cache', log, { commandTimeout: config.CACHE_TIMEOUT_MS }), 'cache', log);

/**
 * The gateway's event-invalidated cache: the tagged store in Redis, fed with the invalidations of
 * every live event this gateway receives (the same pub/sub feed subscriptions use), suspended while
 * that feed is cut. Which event invalidates what is the producers' declaration (EVENT_INVALIDATES).
 */
export async function createGatewayCache(opts: {
  config: GatewayConfig;
  live: LiveEvents;
  metrics: ServiceMetrics;
  log: Logger;
}): Promise<GatewayCache> {
  const { config, live, log } = opts;
  const entity = config.ENTITY_CACHE_ENABLED === 'true';
  const response = config.RESPONSE_CACHE_ENABLED === 'true';
  if ((!entity && !response) || !redisConfigured(config)) return off;
  const store = createTaggedStore({
    redis: cacheConnection(config, log),
    prefix: `${config.EVENT_NAMESPACE}cache:`,
    localMaxBytes: config.CACHE_LOCAL_MAX_MB * 1024 * 1024,
    eventSkewMs: config.CACHE_EVENT_SKEW_MS,
    log,
  });
  const { lookups, responses, invalidations } = cacheCounters(opts.metrics);

  const unsubscribe = await Promise.all(
    (Object.keys(EVENT_STREAMS) as EventType[]).map((type) =>
      live.subscribe(type, (event) => {
        const tags = invalidatedBy(event);
        if (!tags.length) return;
        invalidations.inc({ event: type }, tags.length);
        void store.invalidate(tags);
      }),
    ),
  );
  const offCut = live.onCut?.(() => store.suspend()) ?? (() => {});
  const offResubscribed = live.onResubscribed(() => void store.resume());
  const counters: EntityCacheCounters = {
    hit: (subgraph, scope, n = 1) => lookups.inc({ subgraph, scope, result: 'hit' }, n),
    miss: (subgraph, scope, n = 1) => lookups.inc({ subgraph, scope, result: 'miss' }, n),
    skipped: (subgraph, scope, n = 1) => lookups.inc({ subgraph, scope, result: 'skipped' }, n),
  };
  const maxTtlMs = config.CACHE_MAX_TTL_SECONDS * 1000;
  // One record of callers for every subgraph: a request's fetches to two subgraphs are one visit.
  const policy = createLookupPolicy();
  return {
    entityCache: (subgraph) => (entity ? createEntityCacheStep(subgraph, store, counters, maxTtlMs, policy) : off.entityCache(subgraph)),
    responseCache(deps) {
      if (!response) return { plugins: [], hits: null };
      const facts = createFactsMemo();
      const counters = {
        hit: (path: string) => responses.inc({ result: 'hit', path }),
        miss: (path: string) => responses.inc({ result: 'miss', path }),
      };
      return {
        plugins: [createResponseCachePlugin(store, counters, maxTtlMs, { ...deps, facts, policy })],
        hits: createEdgeHits(store, facts, { ...deps, counted: () => counters.hit('edge') }),
      };
    },
    redisStatus: () => [store.redis],
    async close() {
      offCut();
      offResubscribed();
      unsubscribe.forEach((u) => u());
      await store.close();
    },
  };
}
