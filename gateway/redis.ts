import { Redis } from 'ioredis';
import type { Logger } from '../platform/logger.js';

/**
 * The gateway's shared Redis connection for state every instance must see alike (persisted
 * queries, rate-limit counters). Null in embedded mode: features then keep their state in memory.
 */
export function createGatewayRedis(url: string | undefined, log: Logger): Redis | null {
  if (!url) return null;
  const redis = new Redis(url, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
  redis.on('error', (err) => log.warn({ err: err.message }, 'gateway redis connection error'));
  return redis;
}
