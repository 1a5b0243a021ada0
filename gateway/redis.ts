import type { RedisConfig } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import { createRedisClient, redisConfigured } from '../platform/redis-client.js';
import { createRedisGuard } from '../platform/redis-guard.js';
import type { RedisGuard } from '../platform/redis-guard.js';

/** How long start-up waits for the first connection, so the first requests count in Redis rather than in memory. */
const FIRST_CONNECT_WAIT_MS = 3_000;

/**
 * The gateway's shared Redis connection for state every instance must see alike (persisted
 * queries, rate-limit counters, sign-in attempts): a request-path client (every command has
 * REDIS_COMMAND_TIMEOUT_MS, nothing queued while away) behind a breaker. Null in embedded mode:
 * features then keep their state in memory, as they do whenever this connection is away.
 */
export async function createGatewayRedis(config: RedisConfig, log: Logger): Promise<RedisGuard | null> {
  if (!redisConfigured(config)) return null;
  const client = createRedisClient(config, 'request', 'gateway', log);
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, FIRST_CONNECT_WAIT_MS);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return createRedisGuard(client, 'gateway', log);
}
