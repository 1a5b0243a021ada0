import { closeRedis } from '../../platform/shutdown.js';
import type { Redis } from 'ioredis';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import { sharedMemoryBus } from '../../platform/events/index.js';
import type { BusConfig } from '../../platform/events/index.js';
import { liveChannel } from '../../platform/events/types.js';
import type { StreamEvent } from '../../platform/events/types.js';
import type { Logger } from '../../platform/logger.js';
import { createRedisClient, redisConfigured } from '../../platform/redis-client.js';
import { connectionStatus } from '../../platform/redis-guard.js';
import type { RedisStatus } from '../../platform/redis-guard.js';

export interface LiveEvents {
  /** Calls onEvent for every live event of a type until the returned function is called. */
  subscribe(type: string, onEvent: (event: StreamEvent) => void): Promise<() => void>;
  /**
   * Calls listener each time the live feed was cut and is whole again (Redis connection lost, then
   * re-established and every channel subscribed again). Pub/sub keeps nothing for an absent
   * subscriber, so whatever was published in between must be read from the stream.
   */
  onResubscribed(listener: () => void): () => void;
  /** Calls listener each time the live feed is cut (events published from then on may be missed). */
  onCut?(listener: () => void): () => void;
  /** The pub/sub connection's state (Redis only), for readiness details and metrics. */
  redisStatus?(): RedisStatus[];
  close(): Promise<void>;
}

/** How often the subscriber connection is pinged: a frozen Redis answers nothing, and the socket timeout then cuts the feed. */
const HEARTBEAT_MS = 1_000;

/** Embedded mode: live events from the in-process bus's emitter. */
function createInProcessLiveEvents(config: BusConfig, channel: (type: string) => string): LiveEvents {
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
    // In-process: the feed cannot be cut.
    onResubscribed: () => () => {},
    onCut: () => () => {},
    close: async () => {},
  };
}

/**
 * Live events reach every gateway instance through Redis pub/sub (graphql-redis-subscriptions).
 * RedisPubSub counts references per channel, so all subscribers to one event type on this
 * instance share a single Redis SUBSCRIBE, released when the last one leaves.
 */
export function createLiveEvents(config: BusConfig, log: Logger): LiveEvents {
  const channel = (type: string) => config.EVENT_NAMESPACE + liveChannel(type);
  if (!redisConfigured(config)) return createInProcessLiveEvents(config, channel);
  const publisher = createRedisClient(config, 'background', 'pubsub-publisher', log);
  const subscriber = createRedisClient(config, 'subscriber', 'pubsub-subscriber', log);
  const heartbeat = startHeartbeat(subscriber);
  const pubsub = new RedisPubSub({ publisher, subscriber: withHandledUnsubscribes(subscriber) });
  const listeners = new Set<() => void>();
  const cutListeners = new Set<() => void>();
  let cut = false;
  subscriber.on('close', () => {
    if (!cut) for (const listener of cutListeners) listener();
    cut = true;
  });
  subscriber.on('ready', () => {
    if (!cut) return;
    cut = false;
    /*
     * ioredis emits 'ready' just before it sends the SUBSCRIBEs again (autoResubscribe): defer, then
     * PING on the same connection. Redis answers in order, so the PONG means every channel is live
     * again; anything published from then on arrives here, and anything before is in the stream.
     */
    setImmediate(() => {
      subscriber
        .ping()
        .then(() => {
          log.info({ listeners: listeners.size }, 'live events resubscribed; replaying what was missed from the streams');
          for (const listener of listeners) listener();
        })
        .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'live events resubscription not confirmed'));
    });
  });
  return {
    async subscribe(type, onEvent) {
      const id = await pubsub.subscribe(channel(type), (message: StreamEvent) => onEvent(message));
      return () => pubsub.unsubscribe(id);
    },
    onResubscribed(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    onCut(listener) {
      cutListeners.add(listener);
      return () => void cutListeners.delete(listener);
    },
    redisStatus: () => [connectionStatus(subscriber, 'pubsub')],
    async close() {
      clearInterval(heartbeat);
      // Not pubsub.close(): its QUITs wait for a hung Redis for ever.
      await Promise.all([closeRedis(publisher), closeRedis(subscriber)]);
    },
  };
}

/**
 * RedisPubSub sends UNSUBSCRIBE and PUNSUBSCRIBE when a channel's last listener leaves and drops
 * their promises. Pending when the connection is closed (a shutdown letting go of a hung Redis),
 * they would reject unhandled and crash the process: each is given a handler (nothing to do: the
 * connection, and with it every subscription, is gone).
 */
function withHandledUnsubscribes(subscriber: Redis): Redis {
  for (const name of ['unsubscribe', 'punsubscribe'] as const) {
    const send = subscriber[name].bind(subscriber) as (...channels: string[]) => Promise<unknown>;
    Object.assign(subscriber, {
      [name]: (...channels: string[]) => {
        const sent = send(...channels);
        sent.catch(() => undefined);
        return sent;
      },
    });
  }
  return subscriber;
}

/**
 * A frozen Redis (SIGSTOP, a hung host) keeps the socket open and ioredis `ready`: only an
 * unanswered command shows it. The subscriber is pinged every HEARTBEAT_MS; its socket timeout
 * (redis-client.ts) drops a connection that leaves a command unanswered, which cuts the feed.
 */
function startHeartbeat(subscriber: Redis): NodeJS.Timeout {
  const timer = setInterval(() => {
    if (subscriber.status === 'ready') subscriber.ping().catch(() => undefined);
  }, HEARTBEAT_MS);
  timer.unref();
  return timer;
}
