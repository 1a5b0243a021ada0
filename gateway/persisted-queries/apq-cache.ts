import type { PersistedQueryOptions } from '@apollo/server';
import { LRUCache } from 'lru-cache';
import type { RedisGuard } from '../../platform/redis-guard.js';
import type { Logger } from '../../platform/logger.js';

type KeyValueCache = NonNullable<PersistedQueryOptions['cache']>;

/** Memory for query texts this gateway has seen, in front of Redis. */
const LOCAL_APQ_BYTES = 16 * 1024 * 1024;

/**
 * Apollo Server's APQ store (a KeyValueCache) on the gateway's shared ioredis connection, so a
 * query registered through one gateway instance is found by every other. Written here rather
 * than through keyv + @keyv/redis: those bring a second Redis client library and connection for
 * three commands, while this reuses the connection, its reconnects and its error logging.
 *
 * Every query this gateway stored or read is also kept in its memory (a hash names one text, so
 * a copy is never stale): with Redis slow or away those are still found; others are a miss (the
 * client then sends the full text, which still works), and a write Redis did not take costs
 * nothing but a later miss.
 */
export function createRedisApqCache(redis: RedisGuard, prefix: string, log: Logger): KeyValueCache {
  const held = new LRUCache<string, string>({ maxSize: LOCAL_APQ_BYTES, sizeCalculation: (v, k) => 2 * (v.length + k.length) + 64 });
  return {
    async get(key) {
      const local = held.get(key);
      if (local !== undefined) return local;
      try {
        const found = (await redis.run((r) => r.get(prefix + key))) ?? undefined;
        if (found !== undefined) held.set(key, found);
        return found;
      } catch (err) {
        log.debug({ err: (err as Error).message }, 'APQ store unavailable; treating as a miss');
        return undefined;
      }
    },
    async set(key, value, options) {
      const ttl = options?.ttl;
      held.set(key, value, ttl ? { ttl: ttl * 1000 } : {});
      // Best effort: a write Redis did not take (away, full) costs the next gateway one miss, never the request.
      await redis
        .run((r) => (ttl ? r.set(prefix + key, value, 'EX', Math.ceil(ttl)) : r.set(prefix + key, value)))
        .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'APQ store write skipped'));
    },
    async delete(key) {
      held.delete(key);
      return (await redis.run((r) => r.del(prefix + key)).catch(() => 0)) > 0;
    },
  };
}

/**
 * Apollo Server's `persistedQueries` option. Without Redis (embedded mode) Apollo's own bounded
 * in-memory cache holds them. Apollo prefixes keys with `apq:`; ours adds the event namespace.
 */
export function createApqOptions(opts: {
  redis: RedisGuard | null;
  namespace: string;
  ttlSeconds: number;
  log: Logger;
}): PersistedQueryOptions {
  return {
    ttl: opts.ttlSeconds,
    ...(opts.redis ? { cache: createRedisApqCache(opts.redis, opts.namespace, opts.log) } : {}),
  };
}
