import type { PersistedQueryOptions } from '@apollo/server';
import type { Redis } from 'ioredis';
import type { Logger } from '../../platform/logger.js';

type KeyValueCache = NonNullable<PersistedQueryOptions['cache']>;

/**
 * Apollo Server's APQ store (a KeyValueCache) on the gateway's shared ioredis connection, so a
 * query registered through one gateway instance is found by every other. Written here rather
 * than through keyv + @keyv/redis: those bring a second Redis client library and connection for
 * three commands, while this reuses the connection, its reconnects and its error logging.
 *
 * A Redis failure on read is a miss (the client then sends the full text, which still works);
 * a failed write is logged by Apollo Server and costs nothing but the next miss.
 */
export function createRedisApqCache(redis: Redis, prefix: string, log: Logger): KeyValueCache {
  return {
    async get(key) {
      try {
        return (await redis.get(prefix + key)) ?? undefined;
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'APQ store unavailable; treating as a miss');
        return undefined;
      }
    },
    async set(key, value, options) {
      const ttl = options?.ttl;
      if (ttl) await redis.set(prefix + key, value, 'EX', Math.ceil(ttl));
      else await redis.set(prefix + key, value);
    },
    async delete(key) {
      return (await redis.del(prefix + key)) > 0;
    },
  };
}

/**
 * Apollo Server's `persistedQueries` option. Without Redis (embedded mode) Apollo's own bounded
 * in-memory cache holds them. Apollo prefixes keys with `apq:`; ours adds the event namespace.
 */
export function createApqOptions(opts: { redis: Redis | null; namespace: string; ttlSeconds: number; log: Logger }): PersistedQueryOptions {
  return {
    ttl: opts.ttlSeconds,
    ...(opts.redis ? { cache: createRedisApqCache(opts.redis, opts.namespace, opts.log) } : {}),
  };
}
