import { consumerRetrySchema } from '../config.js';
import type { ConsumerRetryConfig, EventConfig, RedisConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { BusSettings, EventBus } from './bus.js';
import { createMemoryBus } from './memory-bus.js';
import { createRedisBus } from './redis-bus.js';
import { redisConfigured } from '../redis-client.js';

export type { EventBus } from './bus.js';

/** In-process buses by namespace: every service of one embedded process must share the same one. */
const memoryBuses = new Map<string, ReturnType<typeof createMemoryBus>>();

/** A config that may leave the consumers' retry policy out (the gateway's: its schema's defaults apply). */
export type BusConfig = Omit<EventConfig, keyof RedisConfig> & Partial<RedisConfig> & Partial<ConsumerRetryConfig>;
const retryDefaults = consumerRetrySchema.parse({});

export function busSettings(given: BusConfig): BusSettings {
  const config = { ...retryDefaults, ...given };
  return {
    namespace: config.EVENT_NAMESPACE,
    retentionMs: config.EVENT_RETENTION_HOURS * 3_600_000,
    claimIdleMs: config.EVENT_CLAIM_IDLE_MS,
    blockMs: 1_000,
    maxAttempts: config.EVENT_MAX_ATTEMPTS,
    retryBaseMs: config.EVENT_RETRY_BASE_MS,
    retryMaxMs: config.EVENT_RETRY_MAX_MS,
  };
}

/** Redis when REDIS_URL or REDIS_SENTINELS is set; otherwise the embedded in-process bus. */
export function createEventBus(config: BusConfig, log: Logger): EventBus {
  const settings = busSettings(config);
  if (redisConfigured(config)) return createRedisBus(config, settings, log);
  let bus = memoryBuses.get(settings.namespace);
  if (!bus) memoryBuses.set(settings.namespace, (bus = createMemoryBus(settings)));
  return { ...bus, close: async () => {} };
}

export function sharedMemoryBus(namespace: string) {
  return memoryBuses.get(namespace);
}
