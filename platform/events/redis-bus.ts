import { closeRedis } from '../shutdown.js';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { createRedisClient } from '../redis-client.js';
import type { RedisSettings } from '../redis-client.js';
import { connectionStatus, createRedisGuard } from '../redis-guard.js';
import { createLiveAnnouncer } from './live-announcer.js';
import type { BusSettings, ConsumeOptions, EventBus, OutgoingEvent } from './bus.js';
import { compareStreamIds, liveChannel } from './types.js';
import type { StreamEvent, StreamName } from './types.js';

type Entry = [id: string, fields: string[]];

function decode([id, fields]: Entry): StreamEvent {
  const data = JSON.parse(fields[1] ?? '{}') as Omit<StreamEvent, 'id'>;
  return { ...data, id };
}

/**
 * Redis Streams for durable delivery (XADD trimmed by MINID to the retention window, consumer
 * groups with XREADGROUP / XACK, XAUTOCLAIM for what a crashed consumer left pending) and Redis
 * pub/sub for the live fan-out to gateways.
 */
// eslint-disable-next-line max-lines-per-function -- implements the EventBus interface's methods over one shared Redis connection state; each method is short
export function createRedisBus(config: RedisSettings, settings: BusSettings, log: Logger): EventBus {
  const streamKey = (stream: StreamName) => `${settings.namespace}events:${stream}`;
  // Appends and consumers wait through outages (the outbox keeps what is not appended yet).
  const redis = createRedisClient(config, 'background', 'events', log);
  const announcer = createLiveAnnouncer(redis, log);
  // Subscription start and replay are on a request path: a deadline (at least 1 s: a replay page is bigger than one key) and a breaker.
  const replayTimeoutMs = Math.max(config.REDIS_COMMAND_TIMEOUT_MS ?? 0, 1_000);
  let reader: ReturnType<typeof createRedisGuard> | undefined;
  const read = <T>(call: (r: Redis) => Promise<T>) =>
    (reader ??= createRedisGuard(
      createRedisClient(config, 'request', 'events-replay', log, { commandTimeout: replayTimeoutMs }),
      'events-replay',
      log,
    )).run(call);
  const consumers = new Set<{ stop(): Promise<void> }>();

  return {
    settings,
    async append(stream, events: OutgoingEvent[]) {
      if (events.length === 0) return [];
      const minId = `${Date.now() - settings.retentionMs}-0`;
      const pipeline = redis.pipeline();
      for (const e of events) {
        pipeline.xadd(streamKey(stream), 'MINID', '~', minId, '*', 'event', JSON.stringify(e));
      }
      const results = await pipeline.exec();
      const ids = (results ?? []).map(([err, id]) => {
        if (err) throw err;
        return id as string;
      });
      // The append is what counts (the outbox row is published); a failed announcement is published again later.
      await announcer.announce(
        events.map((e, i) => ({ channel: settings.namespace + liveChannel(e.type), message: JSON.stringify({ ...e, id: ids[i] }) })),
      );
      return ids;
    },

    consume({ stream, group, consumer, handler }: ConsumeOptions) {
      // Blocking reads need a connection of their own.
      const conn = redis.duplicate();
      conn.on('error', (err) => log.warn({ err: err.message }, 'redis consumer connection error'));
      let running = true as boolean; // cleared by close(), which the loop's narrowing cannot see
      const key = streamKey(stream);
      const handle = async (entries: (Entry | [string, null] | null)[]) => {
        for (const entry of entries) {
          if (!entry?.[1]) continue; // deleted by trimming while pending
          await handler(decode(entry));
          await conn.xack(key, group, entry[0]);
        }
      };
      const loop = (async () => {
        while (running) {
          try {
            await conn.xgroup('CREATE', key, group, '0', 'MKSTREAM').catch((err: unknown) => {
              if (!(err as Error).message.includes('BUSYGROUP')) throw err;
            });
            // Reclaim what another (crashed) consumer read but never acknowledged.
            const [, claimed] = (await conn.xautoclaim(key, group, consumer, settings.claimIdleMs, '0-0', 'COUNT', 100)) as [
              string,
              Entry[],
            ];
            await handle(claimed);
            const read = (await conn.xreadgroup('GROUP', group, consumer, 'COUNT', 100, 'BLOCK', settings.blockMs, 'STREAMS', key, '>')) as
              [string, Entry[]][] | null;
            if (read) await handle(read[0]![1]);
          } catch (err) {
            if (!running) break;
            log.error({ err, stream, group }, 'event consumer failed; retrying');
            await new Promise((r) => setTimeout(r, 500));
          }
        }
      })();
      const handleStop = {
        async stop() {
          running = false;
          conn.disconnect();
          await loop;
          consumers.delete(handleStop);
        },
      };
      consumers.add(handleStop);
      return handleStop;
    },

    async readAfter(stream, afterId, limit) {
      const entries = (await read((r) => r.xrange(streamKey(stream), `(${afterId}`, '+', 'COUNT', limit))) as Entry[];
      return entries.map(decode);
    },

    async isBeyondRetention(stream, afterId) {
      const info = (await read((r) => r.call('XINFO', 'STREAM', streamKey(stream))).catch((err: unknown) => {
        if (/no such key/i.test((err as Error).message)) return null;
        throw err; // unknown is not "beyond": the caller fails the subscription rather than guess
      })) as unknown[] | null;
      if (!info) return compareStreamIds(afterId, '0-0') > 0; // no stream at all: that id was never ours
      const field = (name: string) => info[info.indexOf(name) + 1];
      const first = field('first-entry') as Entry | null;
      // Trimming removes the oldest entries. If the client's last-seen event is gone, what followed
      // it may be gone too, so the gap cannot be proven empty: the client must refetch.
      const oldest = first?.[0] ?? String(field('last-generated-id'));
      return compareStreamIds(afterId, oldest) < 0;
    },

    async lastGeneratedId(stream) {
      const info = (await redis.call('XINFO', 'STREAM', streamKey(stream)).catch((err: unknown) => {
        if (/no such key/i.test((err as Error).message)) return null; // a lost stream counts as never written
        throw err;
      })) as unknown[] | null;
      if (!info) return '0-0';
      return String(info[info.indexOf('last-generated-id') + 1]);
    },

    async missingIds(stream, ids) {
      const missing: string[] = [];
      for (let i = 0; i < ids.length; i += 1_000) {
        const chunk = ids.slice(i, i + 1_000);
        const pipeline = redis.pipeline();
        for (const id of chunk) pipeline.xrange(streamKey(stream), id, id, 'COUNT', 1);
        const results = (await pipeline.exec()) ?? [];
        results.forEach(([err, entries], j) => {
          if (err) throw err;
          if (!(entries as Entry[]).length) missing.push(chunk[j]!);
        });
      }
      return missing;
    },

    onReconnect(listener) {
      redis.on('ready', listener);
      return () => void redis.off('ready', listener);
    },

    async lastId(stream) {
      const [last] = (await read((r) => r.xrevrange(streamKey(stream), '+', '-', 'COUNT', 1))) as Entry[];
      return last?.[0] ?? '0-0';
    },

    async groupStats(stream) {
      const groups = (await redis.call('XINFO', 'GROUPS', streamKey(stream)).catch(() => [])) as unknown[][];
      return groups.map((fields) => {
        const field = (name: string) => fields[fields.indexOf(name) + 1];
        // lag is null when Redis cannot tell (entries deleted mid-range); pending is then the best sign.
        return { group: String(field('name')), lag: Number(field('lag') ?? 0), pending: Number(field('pending') ?? 0) };
      });
    },

    liveStats: () => announcer.stats(),
    redisStatus: () => [connectionStatus(redis, 'events'), ...(reader ? [reader] : [])],

    async close() {
      announcer.close();
      await Promise.all([...consumers].map((c) => c.stop()));
      reader?.client.disconnect();
      await closeRedis(redis);
    },
  };
}
