import type { EventConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { BusSettings, EventBus } from './bus.js';
import { createMemoryBus } from './memory-bus.js';
import { createRedisBus } from './redis-bus.js';

export type { EventBus } from './bus.js';

/** In-process buses by namespace: every service of one embedded process must share the same one. */
const memoryBuses = new Map<string, ReturnType<typeof createMemoryBus>>();

export function busSettings(config: EventConfig): BusSettings {
  return {
    namespace: config.EVENT_NAMESPACE,
    retentionMs: config.EVENT_RETENTION_HOURS * 3_600_000,
    claimIdleMs: config.EVENT_CLAIM_IDLE_MS,
    blockMs: 1_000,
  };
}

/** Redis when REDIS_URL is set; otherwise the embedded in-process bus. */
export function createEventBus(config: EventConfig, log: Logger): EventBus {
  const settings = busSettings(config);
  if (config.REDIS_URL) return createRedisBus(config.REDIS_URL, settings, log);
  let bus = memoryBuses.get(settings.namespace);
  if (!bus) memoryBuses.set(settings.namespace, (bus = createMemoryBus(settings)));
  return { ...bus, close: async () => {} };
}

export function sharedMemoryBus(namespace: string) {
  return memoryBuses.get(namespace);
}
