import { LRUCache } from 'lru-cache';
import type { CacheScope } from './cached-fetcher.js';

/**
 * When the entity cache looks up and keeps a fetch's entries: only where they can pay. A skipped
 * lookup or store only loses a hit, never changes an answer, so these rules need not be exact,
 * only cheap:
 *
 * - a private entry is kept only for a caller whose previous request through this gateway came
 *   within the entry's lifetime (its max-age): a caller seen once (an account page of a user who
 *   never returns), or one who comes back only after what their last visit kept has expired,
 *   costs no key hashing, no Redis round trip and no write. It is looked up only when that
 *   previous request kept too (it came within the max-age of the one before it): on a caller's
 *   second visit nothing of theirs can be here yet, so the lookup would only miss;
 * - a fetch shape whose lookups spared too few fetches over the last `window` of them and
 *   `windowMs` (`publicWindowMs` for a public shape: a public entry is there for any caller's next
 *   ask, a private one only for its caller's) goes quiet: only one fetch in `probeOneIn` (chosen by
 *   a hash of its body, so a repeated fetch is always or never probed) is still looked up and kept,
 *   and the first probe that spares its fetch wakes the shape up again. Not judged: a shape's first
 *   such window, nor the first after it woke up (its fill: entries are only being written, and a
 *   cold cache is not judged; the benchmark's account pages meet 5,000 products about 12 at a
 *   time, so their first 5 s find only half of them). A fetch is spared when every key it looked up
 *   was found: an `_entities` fetch with one representation missing still goes to the subgraph, so
 *   its hits spare little (the subgraph's round trip and most of its work remain) while each key
 *   costs a hash, a lookup and, missing, a write. Too few: under one spared fetch per
 *   `keysPerSpare` keys looked up (a whole fetch is one key: one hit in a window keeps it awake; a
 *   fetch of 12 representations must be found whole about one time in 33);
 * - a lookup asks this gateway's memory first and Redis only for what memory lacks (the Redis leg:
 *   a round trip), which pays when Redis has all of it (the subgraph fetch is spared). Where under
 *   `minRedisHitRate` of the last `window` round trips did (e.g. private entries, which live no
 *   longer than this gateway's memory of them unless another gateway wrote them), a shape asks
 *   memory alone, and Redis only when a key memory lacks is one in `probeOneIn`; when those probes
 *   pay at least that often again (over `window / probeOneIn` of them), Redis is asked again. What
 *   memory serves obeys the same rule as what Redis serves (tagged-store.ts), so skipping the leg
 *   only loses a hit.
 */
export interface LookupPolicyOptions {
  /** Callers remembered (least recently seen forgotten first). @default 100_000 */
  callers?: number;
  /** Lookups of a shape without a single hit after which it goes quiet. @default 200 */
  window?: number;
  /** ... and the least time they must span for a private shape (its callers' returns: the private max-ages, 60 s). @default 60_000 */
  windowMs?: number;
  /**
   * ... and for a public shape. Shorter: any caller's repeat hits, so a busy public shape that finds
   * nothing in 5 s has its repeats answered elsewhere (the response cache holding the same answers). @default 5_000
   */
  publicWindowMs?: number;
  /** Of a quiet shape's fetches, one in this many is still looked up and kept. @default 32 */
  probeOneIn?: number;
  /**
   * Keys a shape may look up per fetch it spares (every key found) and stay awake: a key costs a
   * hash, a lookup and, missing, a write (tens of µs); a spared fetch saves a subgraph round trip and
   * its work (a millisecond or more of CPU across the stack). @default 400
   */
  keysPerSpare?: number;
  /** The share of Redis round trips (for keys memory lacked) that must spare the subgraph fetch for the Redis leg to pay. @default 0.05 */
  minRedisHitRate?: number;
  /** The clock callers' visits are timed by. @default Date.now */
  now?: () => number;
}

/** One record per caller (up to `callers` of them): flat, no object inside. */
interface Visit extends VisitGaps {
  requestId: string | undefined;
  at: number;
}

/** A caller's visit as this gateway saw it: how long after their previous one it came, and that one after the one before it (undefined: no such visit). */
export interface VisitGaps {
  since: number | undefined;
  previous: number | undefined;
}

/** The Redis leg of a shape's lookups (keys its memory lacked): its round trips, and how many found all they asked. */
export interface RedisLeg {
  trips: number;
  paid: number;
  /** Memory alone is asked (Redis only for probed keys). */
  skipped: boolean;
}

/** A Redis leg not judged yet: asked for every key. */
export const createRedisLeg = (): RedisLeg => ({ trips: 0, paid: 0, skipped: false });

/** What one fetch shape (subgraph + operation text) allowed last, and how its lookups fared since. */
export interface ShapeState {
  scope: CacheScope | false;
  /** Its last answer's max-age: how long what it kept lives. */
  maxAgeMs: number;
  lookups: number;
  hits: number;
  /** Fetches whose every key was found (the subgraph fetch spared), in the current window. */
  spared: number;
  quiet: boolean;
  /** Its current window is its fill, not judged: the first since it began to be looked up and kept. */
  filling: boolean;
  /** When its current window began (Date.now()). */
  since: number;
  redis: RedisLeg;
}

export interface LookupPolicy {
  /**
   * How long before `requestId` (ms) `caller`'s previous request came through here, and that one
   * after the one before it; remembers this one. The fetches of one request share its answer.
   */
  visit(caller: string, requestId: string | undefined): VisitGaps;
  /** True when a quiet shape probes this key (whatever names the entry: caller and fetch body). */
  probes(key: string): boolean;
  /** Counts one fetch's lookups and hits against its shape (waking or quieting it). */
  record(state: ShapeState, lookups: number, hits: number): void;
  /** Whether a key memory lacked goes to Redis: every one, or (the leg skipped, unless the shape is quiet) only probed ones. */
  asksRedis(leg: RedisLeg, key: string, quiet?: boolean): boolean;
  /** Counts a round trip to Redis, and whether it found everything memory lacked (skipping or resuming the leg). */
  recordRedis(leg: RedisLeg, paid: boolean): void;
}

export function createLookupPolicy(opts: LookupPolicyOptions = {}): LookupPolicy {
  const {
    callers = 100_000,
    window = 200,
    windowMs = 60_000,
    publicWindowMs = 5_000,
    probeOneIn = 32,
    keysPerSpare = 400,
    minRedisHitRate = 0.05,
    now = Date.now,
  } = opts;
  const probes = (key: string) => fnv1a(key) % probeOneIn === 0;
  // caller -> its latest request, when it came, and the gaps before it.
  const seen = new LRUCache<string, Visit>({ max: callers });
  return {
    visit(caller, requestId) {
      const last = seen.get(caller);
      // Several fetches of one request: one visit. Without a request id, each fetch is a visit.
      if (last && requestId !== undefined && last.requestId === requestId) return last;
      const at = now();
      const visit: Visit = { requestId, at, since: last && at - last.at, previous: last?.since };
      seen.set(caller, visit);
      return visit;
    },
    probes,
    record(state, lookups, hits) {
      state.lookups += lookups;
      state.hits += hits;
      if (lookups > 0 && hits === lookups) state.spared += 1;
      if (state.quiet && state.spared > 0)
        Object.assign(state, { quiet: false, filling: true, lookups: 0, hits: 0, spared: 0, since: Date.now() });
      if (state.lookups < window) return;
      const now = Date.now();
      if (now - state.since < (state.scope === 'public' ? publicWindowMs : windowMs)) return;
      // A window that spared too few fetches for its keys quiets the shape (or keeps it quiet); else it
      // stays awake. Not the fill: what it keeps was only being written (a shape's first window, or
      // the first after it woke up from probes alone).
      const quiet = state.filling ? state.quiet : state.spared * keysPerSpare < state.lookups;
      Object.assign(state, { quiet, filling: false, lookups: 0, hits: 0, spared: 0, since: now });
    },
    // A quiet shape's lookups are its probes already: they go all the way, or they could never wake it.
    asksRedis: (leg, key, quiet = false) => !leg.skipped || quiet || probes(key),
    recordRedis(leg, paid) {
      leg.trips += 1;
      leg.paid += paid ? 1 : 0;
      // Judged on round trips alone (no least time: what Redis holds that memory lacks was written by
      // another gateway, or outlived this one's memory, and is there to find at once). Skipped,
      // only probes are counted: a smaller sample decides whether Redis pays again.
      if (leg.trips < (leg.skipped ? Math.max(1, Math.floor(window / probeOneIn)) : window)) return;
      Object.assign(leg, { skipped: leg.paid < minRedisHitRate * leg.trips, trips: 0, paid: 0 });
    },
  };
}

/** Remembered per fetch shape (subgraph + operation text): what its last answer allowed (false: nothing). Bounded. */
export function createShapeMemo(limit = 5_000) {
  const memo = new Map<string, ShapeState>();
  return {
    get: (shape: string) => memo.get(shape),
    /** The scope and max-age the shape's last answer allowed; its lookup record starts anew when the scope changes. */
    set(shape: string, scope: CacheScope | false, maxAgeMs = 0) {
      const state = memo.get(shape);
      if (state?.scope === scope) {
        state.maxAgeMs = maxAgeMs;
        return;
      }
      if (memo.size >= limit && !state) memo.clear();
      const since = Date.now();
      memo.set(shape, { scope, maxAgeMs, lookups: 0, hits: 0, spared: 0, quiet: false, filling: true, since, redis: createRedisLeg() });
    },
  };
}
export type ShapeMemo = ReturnType<typeof createShapeMemo>;

/** 32-bit FNV-1a of a string's UTF-16 code units: cheap, and spreads keys evenly enough to sample them. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
