import { Redis } from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { redisSchema } from './config.js';
import type { RedisConfig } from './config.js';
import type { Logger } from './logger.js';

/**
 * The one place every ioredis client is built (event bus, pub/sub, the gateway's shared connection,
 * caches), from the parsed config: one server (REDIS_URL) or the primary named REDIS_MASTER_NAME,
 * found through REDIS_SENTINELS (REDIS_URL's password and db still apply). How a client waits
 * depends on its role:
 *
 * - `request`: on a request path. Each command has a deadline (REDIS_COMMAND_TIMEOUT_MS: a frozen
 *   Redis keeps the socket open and ioredis `ready`, only the deadline notices), nothing is queued
 *   while disconnected and nothing is retried or resent: the caller takes its fallback at once.
 * - `subscriber`: the live pub/sub feed. Waits through reconnects (ioredis resubscribes), but a
 *   command left unanswered for `socketTimeout` drops the socket, so a frozen Redis is seen as a cut.
 * - `background`: relays and consumers. Waits through reconnects and failovers (the outbox keeps
 *   what could not be appended yet; a consumer's blocking read must not time out).
 */
export type RedisRole = 'request' | 'subscriber' | 'background';

/** A frozen peer is declared gone after this long without an answer to a pending command (subscriber role). */
export const SUBSCRIBER_SOCKET_TIMEOUT_MS = 2_000;

/** What a caller that built its config by hand (tests) left out: the schema's defaults. */
export type RedisSettings = Partial<RedisConfig>;
const defaults = redisSchema.parse({});
const complete = (given: RedisSettings): RedisConfig => ({ ...defaults, ...given });

export const redisConfigured = (config: RedisSettings): boolean => Boolean(config.REDIS_URL ?? config.REDIS_SENTINELS?.length);

/** Where and as whom: from REDIS_URL (host, port, user, password, db, TLS), the sentinels replacing its host. */
function target(config: RedisConfig): RedisOptions {
  const url = config.REDIS_URL ? new URL(config.REDIS_URL) : undefined;
  const dbText = url?.pathname.slice(1) ?? '';
  const db = dbText === '' ? 0 : Number(dbText);
  const auth: RedisOptions = {
    ...(url?.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url?.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(url?.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  if (config.REDIS_SENTINELS.length) {
    return {
      ...auth,
      sentinels: config.REDIS_SENTINELS,
      name: config.REDIS_MASTER_NAME,
      ...(config.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: config.REDIS_SENTINEL_PASSWORD } : {}),
      // Ask the sentinels within a bounded time. No failoverDetector: its disconnect racing a reconnect
      // leaves the client ended for good (ioredis 5.11: "Connection is closed" from connectToNext).
      sentinelCommandTimeout: 1_000,
      ...(url?.protocol === 'rediss:' ? { enableTLSForSentinelMode: true } : {}),
    };
  }
  return { ...auth, host: url?.hostname.replace(/^\[|\]$/g, '') ?? '127.0.0.1', port: url?.port ? Number(url.port) : 6379 };
}

function roleOptions(config: RedisConfig, role: RedisRole): RedisOptions {
  switch (role) {
    case 'request':
      return {
        commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        connectTimeout: 2_000,
      };
    case 'subscriber':
      return { maxRetriesPerRequest: null, socketTimeout: SUBSCRIBER_SOCKET_TIMEOUT_MS, connectTimeout: 2_000 };
    case 'background':
      return { maxRetriesPerRequest: null };
  }
}

/** Connection options for `role` (exported for clients built by a library, e.g. a duplicate). */
export function redisOptions(given: RedisSettings, role: RedisRole): RedisOptions {
  const config = complete(given);
  // Reconnect quickly but not in a tight loop: 50 ms, doubling, at most 1 s.
  const retryStrategy = (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1_000);
  return { ...target(config), ...roleOptions(config, role), retryStrategy };
}

/** A client for `role`; connection errors are logged as warnings under `name` (outages are handled by the callers). */
export function createRedisClient(
  config: RedisSettings,
  role: RedisRole,
  name: string,
  log: Logger,
  /** A role's deadline adjusted for one use (e.g. replay reads). */
  adjust: Pick<RedisOptions, 'commandTimeout'> = {},
): Redis {
  const redis = new Redis({ ...redisOptions(config, role), ...adjust });
  redis.on('error', (err: Error) => log.warn({ err: err.message, connection: name }, 'redis connection error'));
  return redis;
}
