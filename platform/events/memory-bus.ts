import { EventEmitter } from 'node:events';
import type { BusSettings, ConsumeOptions, EventBus, OutgoingEvent } from './bus.js';
import { compareStreamIds, liveChannel } from './types.js';
import type { StreamEvent, StreamName } from './types.js';

interface Stream {
  entries: StreamEvent[];
  lastMs: number;
  seq: number;
  lastGenerated: string;
  /** Per group: the last id delivered, and delivered-but-unacknowledged ids with when they went out. */
  groups: Map<string, { lastDelivered: string; pending: Map<string, number> }>;
}

/**
 * The embedded stand-in for Redis: the same streams, consumer groups, redelivery and live
 * channels, inside one process (the embedded `npm start`, where every service shares a process).
 */
// eslint-disable-next-line max-lines-per-function -- implements the EventBus interface's methods over one shared in-memory state; each method is short
export function createMemoryBus(settings: BusSettings): EventBus & { live: EventEmitter } {
  const streams = new Map<StreamName, Stream>();
  const wake = new EventEmitter();
  const live = new EventEmitter();
  wake.setMaxListeners(0);
  live.setMaxListeners(0);

  const get = (name: StreamName): Stream => {
    let s = streams.get(name);
    if (!s) streams.set(name, (s = { entries: [], lastMs: 0, seq: 0, lastGenerated: '0-0', groups: new Map() }));
    return s;
  };
  const nextId = (s: Stream) => {
    const now = Date.now();
    if (now > s.lastMs) {
      s.lastMs = now;
      s.seq = 0;
    } else s.seq += 1;
    return `${s.lastMs}-${s.seq}`;
  };

  return {
    live,
    settings,
    async append(stream, events: OutgoingEvent[]) {
      const s = get(stream);
      const cutoff = `${Date.now() - settings.retentionMs}-0`;
      while (s.entries.length && compareStreamIds(s.entries[0]!.id, cutoff) < 0) s.entries.shift();
      const ids = events.map((e) => {
        const entry = { ...e, id: nextId(s) } as StreamEvent;
        s.lastGenerated = entry.id;
        s.entries.push(entry);
        return entry.id;
      });
      events.forEach((e, i) => live.emit(settings.namespace + liveChannel(e.type), { ...e, id: ids[i] }));
      wake.emit(stream);
      return ids;
    },

    consume({ stream, group, handler }: ConsumeOptions) {
      const s = get(stream);
      const g = s.groups.get(group) ?? { lastDelivered: '0-0', pending: new Map<string, number>() };
      s.groups.set(group, g);
      let running = true as boolean; // cleared by close(), which the loop's narrowing cannot see
      let signal: () => void = () => {};
      const onWake = () => signal();
      wake.on(stream, onWake);
      const loop = (async () => {
        while (running) {
          const now = Date.now();
          const reclaim = [...g.pending].filter(([, at]) => now - at >= settings.claimIdleMs).map(([id]) => id);
          const fresh = s.entries.filter((e) => compareStreamIds(e.id, g.lastDelivered) > 0);
          const batch = [...s.entries.filter((e) => reclaim.includes(e.id)), ...fresh];
          for (const e of batch) {
            g.pending.set(e.id, Date.now());
            if (compareStreamIds(e.id, g.lastDelivered) > 0) g.lastDelivered = e.id;
            try {
              await handler(e);
              g.pending.delete(e.id); // XACK
            } catch {
              // stays pending; reclaimed after claimIdleMs
            }
          }
          if (!running) break;
          await new Promise<void>((resolve) => {
            signal = resolve;
            setTimeout(resolve, Math.min(settings.blockMs, settings.claimIdleMs)).unref();
          });
        }
      })();
      return {
        async stop() {
          running = false;
          wake.off(stream, onWake);
          signal();
          await loop;
        },
      };
    },

    async readAfter(stream, afterId, limit) {
      return get(stream)
        .entries.filter((e) => compareStreamIds(e.id, afterId) > 0)
        .slice(0, limit);
    },

    async isBeyondRetention(stream, afterId) {
      const s = get(stream);
      const oldest = s.entries[0]?.id ?? s.lastGenerated;
      return compareStreamIds(afterId, oldest) < 0;
    },

    async lastGeneratedId(stream) {
      return streams.get(stream)?.lastGenerated ?? '0-0';
    },

    async missingIds(stream, ids) {
      const held = new Set(get(stream).entries.map((e) => e.id));
      return ids.filter((id) => !held.has(id));
    },

    // An in-process bus never disconnects and never loses what it acknowledged.
    onReconnect: () => () => {},

    async lastId(stream) {
      return get(stream).entries.at(-1)?.id ?? '0-0';
    },

    async groupStats(stream) {
      const s = get(stream);
      return [...s.groups].map(([group, g]) => ({
        group,
        lag: s.entries.filter((e) => compareStreamIds(e.id, g.lastDelivered) > 0).length,
        pending: g.pending.size,
      }));
    },

    close: async () => {},
  };
}
