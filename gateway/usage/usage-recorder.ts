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

/**
 * The entry ids of an operation's coordinates (one array per operation: coordinates.ts) for the
 * last caller and day they were recorded for: a hot operation costs no string building per request.
 */
function createIdMemo(): (coordinates: readonly string[], now: number, tail: string) => { day: string; ids: string[] } {
  const today = createDayClock();
  const last = new WeakMap<readonly string[], { at: string; day: string; ids: string[] }>();
  return (coordinates, now, tail) => {
    const day = today(now);
    const at = day + tail;
    const known = last.get(coordinates);
    if (known?.at === at) return known;
    const made = { at, day, ids: coordinates.map((coordinate) => day + '\n' + coordinate + tail) };
    last.set(coordinates, made);
    return made;
  };
}

/** utcDay, recomputed only when a day ends (it formats a Date). */
function createDayClock(): (now: number) => string {
  let until = -Infinity;
  let from = Infinity;
  let day = '';
  return (now) => {
    if (now >= until || now < from) {
      day = utcDay(now);
      from = Date.parse(`${day}T00:00:00Z`);
      until = from + 86_400_000;
    }
    return day;
  };
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
  const idsOf = createIdMemo();
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
      const key = { client: label(who.client), version: label(who.version), partnerId: who.partnerId, operation: label(who.operation) };
      const { day, ids } = idsOf(coordinates, now, `\n${key.client}\n${key.version}\n${key.partnerId}\n${key.operation}`);
      let dropped = 0;
      for (let i = 0; i < coordinates.length; i++) {
        const coordinate = coordinates[i]!;
        const id = ids[i]!;
        // The common case on a busy gateway: one more use of an entry already pending (no entry object made).
        const seen = pending.get(id);
        if (seen) {
          seen.count += 1;
          if (now > seen.lastSeen) seen.lastSeen = now;
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
