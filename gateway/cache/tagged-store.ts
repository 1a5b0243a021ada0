import { Redis } from 'ioredis';
import type { Logger } from '../../platform/logger.js';

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
 * feed, since the fetch behind the entry started (`begin()` / `put(…, since)`).
 */
export interface FetchMark {
  seq: number;
  at: number;
}

export interface TaggedStore {
  /** True while entries may be read and written: Redis is connected and the live feed is whole. */
  usable(): boolean;
  /** A marker to hand to `put`: what this gateway has seen invalidated so far, and when. */
  begin(): FetchMark;
  get(key: string): Promise<{ body: string; ttlMs: number; tags: string } | null>;
  put(key: string, body: string, tags: string[], ttlMs: number, since: FetchMark): Promise<void>;
  /** An event made these tags stale (called for every event this gateway receives). */
  invalidate(tags: string[]): Promise<void>;
  /** The live feed was cut: nothing is read or written until `resume` (events may be missed). */
  suspend(): void;
  /** The feed is whole again: every entry written so far is dropped (epoch), then use resumes. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

const READ = `
local e = redis.call('HMGET', KEYS[1], 'b', 't', 'v', 'x')
if not e[1] then return nil end
if (redis.call('GET', ARGV[1] .. 'epoch') or '0') ~= e[4] then redis.call('DEL', KEYS[1]) return nil end
local vs = {}
for v in string.gmatch(e[3], '%S+') do vs[#vs + 1] = v end
local i = 1
for t in string.gmatch(e[2], '%S+') do
  if (redis.call('GET', ARGV[1] .. 'v:' .. t) or '0') ~= vs[i] then redis.call('DEL', KEYS[1]) return nil end
  i = i + 1
end
return {e[1], redis.call('PTTL', KEYS[1]), e[2]}
`;

const WRITE = `
local vs = {}
for t in string.gmatch(ARGV[3], '%S+') do vs[#vs + 1] = redis.call('GET', ARGV[1] .. 'v:' .. t) or '0' end
redis.call('HSET', KEYS[1], 'b', ARGV[2], 't', ARGV[3], 'v', table.concat(vs, ' '), 'x', redis.call('GET', ARGV[1] .. 'epoch') or '0')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`;

/** Version counters outlive any entry (entries live at most their max-age), so an expired counter reads as a miss, never a stale hit. */
const VERSION_TTL_MS = 24 * 3_600_000;
/** How long this gateway remembers an invalidation for the write rule; a fetch older than this is not written. */
const REMEMBER_MS = 60_000;

type Scripted = Redis & {
  cacheRead(key: string, prefix: string): Promise<[string, number, string] | null>;
  cacheWrite(key: string, prefix: string, body: string, tags: string, ttlMs: number): Promise<number>;
};

// eslint-disable-next-line max-lines-per-function -- a factory: the length is its returned methods, which share the closure's state; each method is short
export function createTaggedStore(opts: { url: string; prefix: string; commandTimeoutMs: number; log: Logger }): TaggedStore {
  const { prefix, log } = opts;
  // No offline queue and a short command timeout: with Redis away a request goes uncached at once.
  const redis = new Redis(opts.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: opts.commandTimeoutMs,
  }) as Scripted;
  redis.on('error', (err) => log.warn({ err: err.message }, 'cache redis connection error'));
  redis.defineCommand('cacheRead', { numberOfKeys: 1, lua: READ });
  redis.defineCommand('cacheWrite', { numberOfKeys: 1, lua: WRITE });

  let feedWhole = true;
  // An invalidation that could not be written leaves entries Redis still deems fresh: off until the epoch is bumped.
  let epochPending = false;
  let seq = 0;
  // tag -> [seq, at] of the last invalidation seen here; oldest first (re-set on every invalidation).
  const seen = new Map<string, [number, number]>();
  let suspendedAt = 0;
  const prune = (now: number) => {
    for (const [tag, [, at]] of seen) {
      if (now - at < REMEMBER_MS) break;
      seen.delete(tag);
    }
  };
  const stale = (tags: string[], since: FetchMark, now: number) =>
    since.seq <= suspendedAt || now - since.at > REMEMBER_MS || tags.some((t) => (seen.get(t)?.[0] ?? 0) > since.seq);
  const usable = () => feedWhole && !epochPending && redis.status === 'ready';
  let retry: NodeJS.Timeout | undefined;
  const bumpEpoch = async (): Promise<boolean> => {
    try {
      await redis.incr(`${prefix}epoch`);
      epochPending = false;
      return true;
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'cache epoch not bumped; the cache stays off until it is');
      epochPending = true;
      retry ??= setTimeout(() => {
        retry = undefined;
        void bumpEpoch();
      }, 1_000).unref();
      return false;
    }
  };

  return {
    usable,
    begin: () => ({ seq: ++seq, at: Date.now() }),
    async get(key) {
      const hit = await redis.cacheRead(`${prefix}e:${key}`, prefix).catch(() => null);
      return hit ? { body: hit[0], ttlMs: hit[1], tags: hit[2] } : null;
    },
    async put(key, body, tags, ttlMs, since) {
      const now = Date.now();
      if (!usable() || stale(tags, since, now)) return;
      // Nothing awaited between the check and the call: an invalidation handled after it is sent
      // after it on this connection, so it bumps the counters this entry just recorded.
      await redis.cacheWrite(`${prefix}e:${key}`, prefix, body, tags.join(' '), ttlMs).catch(() => undefined);
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
        log.warn({ tags: tags.length }, 'cache invalidation not written; dropping every entry');
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
