import { stricterMark } from './tagged-store.js';
import type { FetchMark, TaggedStore } from './tagged-store.js';

/** One entry of the entity cache to write. */
export interface Entry {
  key: string;
  body: string;
  tags: string[];
}
export type WriteBatcher = (entries: Entry[], ttlMs: number, since: FetchMark) => void;
const batchers = new WeakMap<TaggedStore, WriteBatcher>();

/**
 * How long writes gather before they are sent, and how many are sent at once without waiting. A
 * call costs the gateway ~35-50 µs (a command, its promise, a socket write) where an entry in a call
 * of 20 costs ~3 µs (and Redis ~31 against ~7 µs: `npm run bench:cache-writes`); in the account
 * workload a call per event-loop turn carried 8-21 entries, one per 5 ms 15-25. A few ms of delay
 * only means a fetch in them misses what an earlier one is about to write.
 */
const GATHER_MS = 5;
const MAX_BATCH = 500;

/**
 * The writes of every fetch answered within `GATHER_MS`, sent together: one `putMany` (one
 * command, one socket write) per lifetime instead of one per fetch. A batch is written
 * under a mark as strict as all of its fetches' (`stricterMark`): the write rule refuses an entry
 * of the batch if an event about its tags, or a cut of the feed, came after the first of those
 * fetches began (or within the skew before, unless all read on primaries), so no entry is kept
 * that its own fetch's mark would refuse. One batcher per store, shared by every subgraph's step.
 */
export function writeBatcherOf(store: TaggedStore): WriteBatcher {
  let batcher = batchers.get(store);
  if (batcher) return batcher;
  let queued = new Map<number, { entries: Entry[]; since: FetchMark }>();
  let count = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const batch = queued;
    queued = new Map();
    count = 0;
    for (const [ttlMs, { entries, since }] of batch) void store.putMany(entries, ttlMs, since);
  };
  batcher = (entries, ttlMs, since) => {
    // Unref'd: a pending batch never holds a stopping process open (what it loses is only cache).
    timer ??= setTimeout(flush, GATHER_MS).unref();
    const same = queued.get(ttlMs);
    if (!same) queued.set(ttlMs, { entries: [...entries], since });
    else {
      same.entries.push(...entries);
      same.since = stricterMark(same.since, since);
    }
    count += entries.length;
    if (count >= MAX_BATCH) flush();
  };
  batchers.set(store, batcher);
  return batcher;
}
