import type { Logger } from '../../platform/logger.js';
import { utcDay } from './usage-store.js';
import type { UsageEntry, UsageKey, UsageStore } from './usage-store.js';

export interface UsageRecorderOptions {
  store: UsageStore;
  log: Logger;
  /** A batch is written this often. */
  flushMs: number;
  /**
   * Distinct (coordinate, client, version, operation) entries held between flushes: client names
   * and versions are whatever headers say, so a caller inventing one per request must not grow
   * memory or storage without bound. Beyond it, new entries are dropped and counted.
   */
  maxEntries: number;
  onFlush?: (outcome: 'ok' | 'failed', entries: number) => void;
  onDropped?: (count: number) => void;
}

export interface UsageRecorder {
  /** Counts one operation's coordinates: synchronous, a few map updates; never touches storage. */
  record(who: Omit<UsageKey, 'coordinate'>, coordinates: readonly string[], now?: number): void;
  /** Writes what is pending now (the timer calls this; stop and tests too). Never rejects. */
  flush(): Promise<void>;
  /** Stops the timer and writes what is pending (a graceful stop loses nothing). */
  stop(): Promise<void>;
}

/** Labels taken from headers are cut to this length: a coordinate key stays small whatever a client sends. */
const LABEL_MAX = 64;
const label = (value: string) => (value.length > LABEL_MAX ? value.slice(0, LABEL_MAX) : value);

/**
 * Field usage aggregated in memory and written in batches: the request path only adds to a map;
 * the store is written by a timer (unref'd), one flush at a time. A failed write puts its batch back
 * (merged with what arrived meanwhile, within maxEntries) for the next flush, and never reaches a request.
 */
export function createUsageRecorder(opts: UsageRecorderOptions): UsageRecorder {
  let pending = new Map<string, UsageEntry>();
  let flushing: Promise<void> | undefined;
  const add = (id: string, entry: UsageEntry): boolean => {
    const seen = pending.get(id);
    if (seen) {
      seen.count += entry.count;
      seen.lastSeen = Math.max(seen.lastSeen, entry.lastSeen);
      return true;
    }
    if (pending.size >= opts.maxEntries) return false;
    pending.set(id, entry);
    return true;
  };
  const writeBatch = async () => {
    if (!pending.size) return;
    const batch = pending;
    pending = new Map();
    try {
      await opts.store.write([...batch.values()]);
      opts.onFlush?.('ok', batch.size);
    } catch (err) {
      opts.onFlush?.('failed', batch.size);
      opts.log.warn({ problem: (err as Error).message, entries: batch.size }, 'field usage: flush failed, kept for the next one');
      let dropped = 0;
      for (const [id, entry] of batch) if (!add(id, entry)) dropped += entry.count;
      if (dropped) opts.onDropped?.(dropped);
    }
  };
  const flush = () => (flushing ??= writeBatch().finally(() => (flushing = undefined)));
  const timer = setInterval(() => void flush(), opts.flushMs);
  timer.unref();
  return {
    record(who, coordinates, now = Date.now()) {
      const day = utcDay(now);
      const key = { client: label(who.client), version: label(who.version), partnerId: who.partnerId, operation: label(who.operation) };
      const suffix = `\n${key.client}\n${key.version}\n${key.partnerId}\n${key.operation}`;
      let dropped = 0;
      for (const coordinate of coordinates) {
        const id = `${day}\n${coordinate}${suffix}`;
        // A coordinate already counted this flush (the usual case) is one map hit, no new entry object.
        const seen = pending.get(id);
        if (seen) {
          seen.count += 1;
          seen.lastSeen = Math.max(seen.lastSeen, now);
        } else if (!add(id, { ...key, coordinate, day, count: 1, lastSeen: now })) dropped++;
      }
      if (dropped) opts.onDropped?.(dropped);
    },
    flush: async () => {
      await flushing;
      await flush();
    },
    async stop() {
      clearInterval(timer);
      await flushing;
      await flush();
    },
  };
}
