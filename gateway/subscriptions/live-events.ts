import { Redis } from 'ioredis';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import type { EventConfig } from '../../platform/config.js';
import { sharedMemoryBus } from '../../platform/events/index.js';
import { liveChannel } from '../../platform/events/types.js';
import type { EventType, StreamEvent } from '../../platform/events/types.js';
import type { Logger } from '../../platform/logger.js';

export interface LiveEvents {
  /** Calls onEvent for every live event of a type until the returned function is called. */
  subscribe(type: EventType, onEvent: (event: StreamEvent) => void): Promise<() => void>;
  close(): Promise<void>;
}

/**
 * Live events reach every gateway instance through Redis pub/sub (graphql-redis-subscriptions).
 * RedisPubSub counts references per channel, so all subscribers to one event type on this
 * instance share a single Redis SUBSCRIBE, released when the last one leaves.
 */
export function createLiveEvents(config: EventConfig, log: Logger): LiveEvents {
  const channel = (type: EventType) => config.EVENT_NAMESPACE + liveChannel(type);
  if (!config.REDIS_URL) {
    const emitter = () => {
      const bus = sharedMemoryBus(config.EVENT_NAMESPACE);
      if (!bus) throw new Error('embedded mode: no in-process event bus in this process');
      return bus.live;
    };
    return {
      async subscribe(type, onEvent) {
        const live = emitter();
        live.on(channel(type), onEvent);
        return () => void live.off(channel(type), onEvent);
      },
      async close() {},
    };
  }
  const options = { maxRetriesPerRequest: null };
  const publisher = new Redis(config.REDIS_URL, options);
  const subscriber = new Redis(config.REDIS_URL, options);
  for (const c of [publisher, subscriber]) c.on('error', (err) => log.warn({ err: err.message }, 'redis pub/sub connection error'));
  const pubsub = new RedisPubSub({ publisher, subscriber });
  return {
    async subscribe(type, onEvent) {
      const id = await pubsub.subscribe(channel(type), (message: StreamEvent) => onEvent(message));
      return () => pubsub.unsubscribe(id);
    },
    async close() {
      await pubsub.close();
    },
  };
}
