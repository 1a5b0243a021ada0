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
 * The writes of every fetch answered in one turn of the event loop, sent together: one `putMany`
 * (one pipeline, one socket write) per lifetime instead of one per fetch. A batch is written
 * under a mark as strict as all of its fetches' (`stricterMark`): the write rule refuses an entry
 * of the batch if an event about its tags, or a cut of the feed, came after the first of those
 * fetches began (or within the skew before, unless all read on primaries), so no entry is kept
 * that its own fetch's mark would refuse. A batch waits for nothing but the end of the turn. One batcher per store,
 * shared by every subgraph's step.
 */
export function writeBatcherOf(store: TaggedStore): WriteBatcher {
  let batcher = batchers.get(store);
  if (batcher) return batcher;
  let queued = new Map<number, { entries: Entry[]; since: FetchMark }>();
  const flush = () => {
    const batch = queued;
    queued = new Map();
    for (const [ttlMs, { entries, since }] of batch) void store.putMany(entries, ttlMs, since);
  };
  batcher = (entries, ttlMs, since) => {
    if (!queued.size) setImmediate(flush);
    const same = queued.get(ttlMs);
    if (!same) queued.set(ttlMs, { entries: [...entries], since });
    else {
      same.entries.push(...entries);
      same.since = stricterMark(same.since, since);
    }
  };
  batchers.set(store, batcher);
  return batcher;
}
