import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../../platform/logger.js';
import { READ_SOURCE_HEADER } from '../../platform/lsn.js';
import type { RedisGuard, RedisStatus } from '../../platform/redis-guard.js';

/**
 * Cache entries in Redis, shared by every gateway, each tagged with the entities it holds.
 *
 * Invalidation is by version: every tag has a counter (`<prefix>v:<tag>`), an entry records the
 * counters of its tags when it is written, and a read (one Lua call) serves it only while every
 * counter still matches. An event bumps its tags' counters, so all entries holding that entity die
 * at once, whoever wrote them. A global epoch (`<prefix>epoch`) in every entry drops everything
 * when a gateway may have missed events (its live feed was cut).
 *
 * The race "read from the database before the change, written to the cache after the
 * invalidation" is closed by two rules: every gateway bumps the counters of every event it
 * receives (so an entry written before this gateway saw the event dies when it does), and a
 * gateway never writes an entry when it has seen an event about one of its tags, or a cut of its
 * feed, since the fetch behind the entry started (`begin()` / `put(…, since)`). An answer that may
 * lag its events (read on a replica, or through another gateway's entries) is also not written
 * for `eventSkewMs` after an event about one of its tags: the replica may not have replayed it, the
 * other gateway may not have heard it. One read from the primary after the fetch began is exempt.
 */
export interface FetchMark {
  seq: number;
  at: number;
  /**
   * Set once known (`readFromOf`). `primary`: every answer behind the entry was read on a primary
   * after `at`, so any event heard before `at` is in it and only events heard since count against
   * it. `cache`: some came from cache entries valid when read (the rest from primaries): Redis's
   * versions stay as exact as those entries' writers, so it may be written there at once; kept in
   * this gateway's memory, which only its own events check, it waits out the skew all the same.
   * Unset: a replica may have answered.
   */
  readFrom?: ReadFrom;
}
export type ReadFrom = 'primary' | 'cache';

export interface CacheEntry {
  body: string;
  ttlMs: number;
  /** Its tags, space-separated. */
  tags: string;
}

export interface TaggedStore {
  /** Its Redis connection's state. */
  readonly redis: RedisStatus;
  /** True while entries may be read and written: Redis is connected (its breaker closed) and the live feed is whole. */
  usable(): boolean;
  /** A marker to hand to `put`: what this gateway has seen invalidated so far, and when. */
  begin(): FetchMark;
  get(key: string): Promise<CacheEntry | null>;
  /** The entry if this process holds it and knows it fresh (memory only, no round trip; null while not `usable()`). */
  peek(key: string): CacheEntry | null;
  /**
   * As `peek`, or AGED: memory held the entry, within its lifetime and with no event heard against
   * it, but longer than this gateway remembers events (REMEMBER_MS), so memory cannot vouch for it
   * any longer; Redis can (its versions), and keeps it for its whole max-age. Worth a round trip.
   */
  recall(key: string): CacheEntry | typeof AGED | null;
  /** Many entries in one round trip, in order (null for each miss; all null when Redis fails). */
  getMany(keys: string[]): Promise<(CacheEntry | null)[]>;
  put(key: string, body: string, tags: string[], ttlMs: number, since: FetchMark): Promise<void>;
  putMany(entries: { key: string; body: string; tags: string[] }[], ttlMs: number, since: FetchMark): Promise<void>;
  /** An event made these tags stale (called for every event this gateway receives). */
  invalidate(tags: string[]): Promise<void>;
  /** The live feed was cut: nothing is read or written until `resume` (events may be missed). */
  suspend(): void;
  /** The feed is whole again: every entry written so far is dropped (epoch), then use resumes. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** One entry if every one of its tags' counters (and the epoch) still matches, else nothing (and it is deleted). */
const READ_ONE = `
local function read(key, prefix)
  local e = redis.call('HMGET', key, 'b', 't', 'v', 'x')
  if not e[1] then return false end
  if (redis.call('GET', prefix .. 'epoch') or '0') ~= e[4] then redis.call('DEL', key) return false end
  local vs = {}
  for v in string.gmatch(e[3], '%S+') do vs[#vs + 1] = v end
  local i = 1
  for t in string.gmatch(e[2], '%S+') do
    if (redis.call('GET', prefix .. 'v:' .. t) or '0') ~= vs[i] then redis.call('DEL', key) return false end
    i = i + 1
  end
  return {e[1], redis.call('PTTL', key), e[2]}
end
`;
/** Entries in one call (one, or an `_entities` fetch's representations): a list with nil for each miss. */
const READ_MANY = READ_ONE + 'local out = {} for i, k in ipairs(KEYS) do out[i] = read(k, ARGV[1]) end return out';

/**
 * Many entries of one lifetime in one call (one command, one reply, whatever their number): each
 * records its tags' counters and the epoch as they are now. ARGV: prefix, ttl, then body and tags
 * of each KEYS[i] in turn.
 */
const WRITE_MANY = `
local prefix, versions = ARGV[1], {}
local epoch = redis.call('GET', prefix .. 'epoch') or '0'
for i, key in ipairs(KEYS) do
  local tags, vs = ARGV[2 * i + 2], {}
  for t in string.gmatch(tags, '%S+') do
    versions[t] = versions[t] or redis.call('GET', prefix .. 'v:' .. t) or '0'
    vs[#vs + 1] = versions[t]
  end
  redis.call('HSET', key, 'b', ARGV[2 * i + 1], 't', tags, 'v', table.concat(vs, ' '), 'x', epoch)
  redis.call('PEXPIRE', key, ARGV[2])
end
return #KEYS
`;

/** What `recall` says of an entry memory aged out of while Redis may still hold it. */
export const AGED = 'aged';

/** Version counters outlive any entry (entries live at most their max-age), so an expired counter reads as a miss, never a stale hit. */
const VERSION_TTL_MS = 24 * 3_600_000;
/** How long this gateway remembers an invalidation for the write rule; a fetch older than this is not written. */
const REMEMBER_MS = 60_000;

/**
 * Where a subgraph answer came from (READ_SOURCE_HEADER): `primary` (read there after the fetch
 * began), `cache` (an entity-cache hit, gateway/cache/cached-fetcher.ts), else unknown: a replica,
 * or an in-flight fetch's shared copy, which hides the header (gateway/subgraph-fetch-dedup.ts): its
 * reads may predate the joiner's fetch.
 */
export function readFromOf(headers: { get(name: string): string | null } | undefined): ReadFrom | undefined {
  const source = headers?.get(READ_SOURCE_HEADER);
  return source === 'primary' || source === 'cache' ? source : undefined;
}

/** A mark that refuses whatever either of two refuses: the earlier start, the weaker source. */
export const stricterMark = (a: FetchMark, b: FetchMark): FetchMark => ({
  seq: Math.min(a.seq, b.seq),
  at: Math.min(a.at, b.at),
  readFrom: weakerReadFrom(a.readFrom, b.readFrom),
});

/** Where an answer made of two came from: the weaker of the two. */
export const weakerReadFrom = (a: ReadFrom | undefined, b: ReadFrom | undefined): ReadFrom | undefined =>
  a === undefined || b === undefined ? undefined : a === 'cache' || b === 'cache' ? 'cache' : 'primary';

type Scripted = Redis & {
  cacheReadMany(numberOfKeys: number, ...keysThenPrefix: string[]): Promise<([string, number, string] | null)[]>;
  cacheWriteMany(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<number>;
};

// eslint-disable-next-line max-lines-per-function -- a factory: the length is its returned methods, which share the closure's state; each method is short
export function createTaggedStore(opts: {
  /** A request-path connection (a deadline on every command) behind its breaker. */
  redis: RedisGuard;
  prefix: string;
  /** Bytes of entries kept in this process in front of Redis (0: none). */
  localMaxBytes: number;
  /** How much later than this gateway another may hear the same event (pub/sub fan-out; a cut one suspends), or a read replica replay it. */
  eventSkewMs: number;
  /** How long invalidations are remembered (and so how long memory vouches for an entry). @default REMEMBER_MS */
  rememberMs?: number;
  log: Logger;
}): TaggedStore {
  const { prefix, log } = opts;
  // No offline queue and a short deadline (redis-client.ts); the breaker skips Redis while it keeps failing: uncached at once.
  const guard = opts.redis;
  const redis = guard.client as Scripted;
  redis.defineCommand('cacheWriteMany', { lua: WRITE_MANY });
  redis.defineCommand('cacheReadMany', { lua: READ_MANY });

  let feedWhole = true;
  // An invalidation that could not be written leaves entries Redis still deems fresh: off until the epoch is bumped.
  let epochPending = false;
  let seq = 0;
  // tag -> [seq, at] of the last invalidation seen here; oldest first (re-set on every invalidation).
  const seen = new Map<string, [number, number]>();
  let suspendedAt = 0;
  const rememberMs = opts.rememberMs ?? REMEMBER_MS;
  const prune = (now: number) => {
    for (const [tag, [, at]] of seen) {
      if (now - at < rememberMs) break;
      seen.delete(tag);
    }
  };
  // Stale: an event about one of its tags was heard after the fetch began, or less than
  // eventSkewMs before unless it was read on a primary since (a read replica, or another gateway,
  // may not have caught up with it yet).
  const skewMs = Math.min(opts.eventSkewMs, rememberMs);
  const staleFor = (inMemory: boolean) => (tags: string[], since: FetchMark, now: number) => {
    const exempt = since.readFrom === 'primary' || (!inMemory && since.readFrom === 'cache');
    return (
      since.seq <= suspendedAt ||
      now - since.at > rememberMs ||
      tags.some((t) => {
        const last = seen.get(t);
        return last !== undefined && (last[0] > since.seq || (!exempt && last[1] > since.at - skewMs));
      })
    );
  };
  const stale = staleFor(false);
  const usable = () => feedWhole && !epochPending && guard.available();
  const local = createLocalEntries(opts.localMaxBytes, staleFor(true), rememberMs);
  let retry: NodeJS.Timeout | undefined;
  // One line per outage, not per event: while Redis is away every invalidation and every retry
  // fails alike (a backlog of events once wrote ~1,500 warnings in 2 s), so an outage is logged when
  // it begins and when the cache is back on, with how many failures lay between.
  let failures = 0;
  const bumpEpoch = async (): Promise<boolean> => {
    try {
      await guard.run((r) => r.incr(`${prefix}epoch`));
      epochPending = false;
      if (failures) log.info({ failures }, 'cache epoch bumped; the cache is back on');
      failures = 0;
      return true;
    } catch (err) {
      if (!failures++) log.warn({ err: (err as Error).message }, 'cache epoch not bumped; the cache stays off until it is');
      epochPending = true;
      retry ??= setTimeout(() => {
        retry = undefined;
        void bumpEpoch();
      }, 1_000).unref();
      return false;
    }
  };

  // From memory, else from Redis; what Redis hands over is kept in memory marked with the read's start.
  const getMany = async (keys: string[]): Promise<(CacheEntry | null)[]> => {
    const found = keys.map((k) => local.get(k));
    const missing = keys.filter((_, i) => !found[i]);
    if (!missing.length) return found;
    const mark = { seq: ++seq, at: Date.now() };
    const hits = await guard
      .run(() => redis.cacheReadMany(missing.length, ...missing.map((k) => `${prefix}e:${k}`), prefix))
      .catch(() => missing.map(() => null));
    let j = 0;
    return found.map((f, i) => {
      if (f) return f;
      const hit = hits[j++];
      if (!hit) local.forget(keys[i]!);
      return hit ? local.keep(keys[i]!, { body: hit[0], ttlMs: hit[1], tags: hit[2] }, mark) : null;
    });
  };
  return {
    redis: guard,
    usable,
    begin: () => ({ seq: ++seq, at: Date.now() }),
    async get(key) {
      return (await getMany([key]))[0] ?? null;
    },
    peek: (key) => (usable() ? local.get(key) : null),
    recall: (key) => (usable() ? local.recall(key) : null),
    getMany,
    async putMany(entries, ttlMs, since) {
      const now = Date.now();
      if (!usable()) return;
      const keys: string[] = [];
      const args: string[] = [];
      for (const { key, body, tags } of entries) {
        if (stale(tags, since, now)) continue;
        const text = tags.join(' ');
        keys.push(`${prefix}e:${key}`);
        args.push(body, text);
        local.keep(key, { body, ttlMs, tags: text }, since);
      }
      // Nothing awaited between the checks and the send (not even the guard's run): an invalidation
      // handled after them is sent after these writes on this connection, so it bumps the counters
      // they just recorded. One command for the batch: a command per entry cost the gateway a Command,
      // a promise and a Lua call each. A write Redis refuses (full: OOM) or does not answer in time is
      // simply not cached.
      if (keys.length) await redis.cacheWriteMany(keys.length, ...keys, prefix, ttlMs, ...args).catch(() => undefined);
    },
    put(key, body, tags, ttlMs, since) {
      return this.putMany([{ key, body, tags }], ttlMs, since);
    },
    async invalidate(tags) {
      const now = Date.now();
      prune(now);
      const mark = ++seq;
      const pipeline = redis.pipeline();
      for (const tag of tags) {
        seen.delete(tag);
        seen.set(tag, [mark, now]);
        pipeline.incr(`${prefix}v:${tag}`).pexpire(`${prefix}v:${tag}`, VERSION_TTL_MS);
      }
      const results = await pipeline.exec().catch((err: unknown) => [[err as Error, null]] as [Error | null, unknown][]);
      if (results?.some(([err]) => err)) {
        if (!failures) log.warn({ tags: tags.length }, 'cache invalidation not written; dropping every entry');
        suspendedAt = ++seq;
        epochPending = true;
        await bumpEpoch();
      }
    },
    suspend() {
      feedWhole = false;
      suspendedAt = ++seq;
    },
    async resume() {
      suspendedAt = ++seq;
      local.clear();
      // Entries written by anyone while this gateway could not hear events may be stale: drop them all.
      feedWhole = true;
      epochPending = true;
      await bumpEpoch();
    },
    async close() {
      clearTimeout(retry);
      redis.disconnect();
    },
  };
}

/**
 * Entries this gateway read from or wrote to Redis, kept in memory so a hit costs no round trip.
 * One is served only while nothing this gateway heard since it was read (or its fetch began)
 * touches its tags, the feed was never cut since, and it is younger than the memory of
 * invalidations (the same `stale` rule as writes): every gateway hears every event, so an
 * event drops an entry here as surely as in Redis. The rule's 2 s before the mark also covers an
 * entry another gateway wrote before it heard an event this one heard: Redis calls it fresh until
 * that gateway bumps the versions, memory refuses it. Callers check `usable()` first, so with Redis
 * or the feed away nothing is served from here either. One older than the memory of invalidations
 * but alive and with nothing heard against it is never served from here: `recall` calls it AGED
 * (ask Redis, which still checks its versions) until Redis answers for it.
 */
function createLocalEntries(maxBytes: number, stale: (tags: string[], since: FetchMark, now: number) => boolean, rememberMs: number) {
  interface Local {
    entry: CacheEntry;
    tags: string[];
    expiresAt: number;
    mark: FetchMark;
  }
  const lru =
    maxBytes > 0
      ? new LRUCache<string, Local>({ maxSize: maxBytes, sizeCalculation: (l) => 2 * (l.entry.body.length + l.entry.tags.length) + 96 })
      : null;
  const recall = (key: string): CacheEntry | typeof AGED | null => {
    const l = lru?.get(key);
    if (!l) return null;
    const now = Date.now();
    if (l.expiresAt > now && !stale(l.tags, l.mark, now)) return { ...l.entry, ttlMs: l.expiresAt - now };
    // Alive, and nothing heard against it but its age (the same rule, as if read just now): Redis may
    // vouch for it. Kept (never served from here) until Redis answers for it: every reader of the key
    // (the edge's peek, then the response cache's lookup) sees it aged, not only the first.
    if (l.expiresAt > now && now - l.mark.at > rememberMs && !stale(l.tags, { ...l.mark, at: now }, now)) return AGED;
    lru!.delete(key);
    return null;
  };
  return {
    get(key: string): CacheEntry | null {
      const found = recall(key);
      return found === AGED ? null : found;
    },
    recall,
    /** An entry read from Redis, or fetched and written, whose read or fetch began at `mark`. */
    keep(key: string, entry: CacheEntry, mark: FetchMark): CacheEntry {
      if (lru && entry.ttlMs > 0)
        lru.set(key, { entry, tags: entry.tags ? entry.tags.split(' ') : [], expiresAt: Date.now() + entry.ttlMs, mark });
      return entry;
    },
    /** Redis holds no fresh entry of `key`: what memory keeps of it aged goes (not one written since the read was sent). */
    forget(key: string) {
      const l = lru?.peek(key);
      if (l && Date.now() - l.mark.at > rememberMs) lru!.delete(key);
    },
    clear: () => lru?.clear(),
  };
}
