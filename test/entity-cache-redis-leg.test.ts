import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheScope, EntityCacheCounters } from '../gateway/cache/cached-fetcher.js';
import { createLookupPolicy } from '../gateway/cache/lookup-policy.js';
import { createResponseLookup } from '../gateway/cache/response-cache.js';
import type { TaggedStore } from '../gateway/cache/tagged-store.js';
import type { SendFetch } from '../gateway/subgraph-fetch-stack.js';
import { fetchProductId, startEntityCacheStack, startProductSubgraph } from './support/entity-cache-stack.js';
import { eventually } from './support/stack.js';

/**
 * The Redis leg of a lookup (gateway/cache/lookup-policy.ts): a gateway asks its memory first and
 * Redis for what memory lacks; where Redis never has it (this gateway wrote everything it reads, and
 * holds it in memory), it stops asking Redis except for probed keys, and when the probes find
 * entries there again (another gateway writes them), it asks Redis again. Two entity cache stacks
 * over the run's Redis with one key space, as two gateways: "here" with memory in front of Redis
 * (a window of 20 round trips, one key in 4 probed), "there" without. A real
 * subgraph-like server on loopback (public max-age, cache tags) answers both. The response cache's
 * lookup follows the same rule, over the same two stores.
 */

let subgraph: Awaited<ReturnType<typeof startProductSubgraph>>;

type Counted = Record<'hit' | 'miss' | 'skipped', number>;
const countersOf = (counted: Counted): EntityCacheCounters => {
  const count =
    (result: keyof Counted) =>
    (_subgraph: string, _scope: CacheScope, n = 1) =>
      void (counted[result] += n);
  return { hit: count('hit'), miss: count('miss'), skipped: count('skipped') };
};

let url: string;
const stores: TaggedStore[] = [];
let here: SendFetch;
let there: SendFetch;
const hereCounted: Counted = { hit: 0, miss: 0, skipped: 0 };
const thereCounted: Counted = { hit: 0, miss: 0, skipped: 0 };

beforeAll(async () => {
  subgraph = await startProductSubgraph();
  url = subgraph.url;
  // A minute before a (public) shape without hits may go quiet: this test judges the Redis leg alone.
  const policy = createLookupPolicy({ window: 20, publicWindowMs: 60_000, probeOneIn: 4 });
  const a = await startEntityCacheStack('catalog', countersOf(hereCounted), policy, { localMaxBytes: 1024 * 1024 });
  const b = await startEntityCacheStack('catalog', countersOf(thereCounted), undefined, { prefix: a.prefix });
  stores.push(a.store, b.store);
  ({ send: here } = a);
  ({ send: there } = b);
});
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await subgraph?.close();
});

/** One fetch of product `n` through a gateway's stack; the id it answers with. */
const productId = (send: SendFetch, n: number) => fetchProductId(send, url, n);

/** "There" fetches product `n` until its entry is in Redis (its own lookup, memory-less, finds it). */
async function writtenThere(n: number): Promise<void> {
  await eventually(async () => {
    const hits = thereCounted.hit;
    expect(await productId(there, n)).toBe(String(n));
    return thereCounted.hit > hits ? true : undefined;
  });
}

/** Whether "here" answered product `n` without the subgraph (from its memory or Redis). */
async function cachedHere(n: number): Promise<boolean> {
  const before = subgraph.served();
  expect(await productId(here, n)).toBe(String(n));
  return subgraph.served() === before;
}

describe('a gateway whose memory holds all Redis would give it', () => {
  it('stops asking Redis (but for probes) and asks it again once the probes find entries', async () => {
    // The first answer teaches the shape; then 20 products memory lacks and Redis lacks too: 20
    // round trips that found nothing.
    expect(await productId(here, 0)).toBe('0');
    for (let n = 1; n <= 20; n++) expect(await cachedHere(n)).toBe(false);
    expect(hereCounted).toEqual({ hit: 0, miss: 20, skipped: 0 });

    // Now Redis is asked only for probed keys: an entry another gateway wrote is not seen here
    // (the subgraph answers, a miss) unless its key is probed; once enough probes found theirs, every
    // key goes to Redis again.
    let n = 100;
    let unseen = 0;
    let found = 0;
    for (; found < 5; n++) {
      expect(n).toBeLessThan(200);
      await writtenThere(n);
      if (await cachedHere(n)) found++;
      else unseen++;
    }
    expect(unseen).toBeGreaterThan(0);
    expect(hereCounted.skipped).toBe(0);
    for (const k of [n, n + 1, n + 2, n + 3, n + 4, n + 5, n + 6, n + 7]) {
      await writtenThere(k);
      expect(await cachedHere(k)).toBe(true);
    }
  });
});

describe("the response cache's lookup, on a gateway whose memory holds all Redis would give it", () => {
  it('stops asking Redis (but for probes) and asks it again once the probes find entries', async () => {
    const [hereStore, thereStore] = stores as [TaggedStore, TaggedStore];
    const lookUp = createResponseLookup(hereStore, createLookupPolicy({ window: 20, probeOneIn: 4 }));
    const run = `r:${Date.now()}:`;
    const writeThere = (n: number) => thereStore.put(`${run}${n}`, `{"data":{"n":${n}}}`, [`Product:${n}`], 60_000, thereStore.begin());
    // What this gateway wrote is answered from its memory, no round trip needed.
    await hereStore.put(`${run}mine`, '{"data":{}}', [], 60_000, hereStore.begin());
    expect((await lookUp(`${run}mine`))?.body).toBe('{"data":{}}');
    // 20 keys nobody wrote: 20 round trips that found nothing. Then an entry another gateway wrote is
    // found only when its key is probed, until enough probes have found theirs.
    for (let n = 1; n <= 20; n++) expect(await lookUp(`${run}${n}`)).toBeNull();
    let unseen = 0;
    let found = 0;
    let n = 100;
    for (; found < 5; n++) {
      expect(n).toBeLessThan(300);
      await writeThere(n);
      if (await lookUp(`${run}${n}`)) found++;
      else unseen++;
    }
    expect(unseen).toBeGreaterThan(0);
    for (const k of [n, n + 1, n + 2, n + 3, n + 4, n + 5, n + 6, n + 7]) {
      await writeThere(k);
      expect((await lookUp(`${run}${k}`))?.body).toBe(`{"data":{"n":${k}}}`);
    }
  });
});

/**
 * Memory vouches for an entry only as long as this gateway remembers events (REMEMBER_MS, a minute;
 * 1.5 s here), while Redis keeps it for its max-age (60 s) and checks its versions on every read. So
 * an entry memory has aged out of goes to Redis even where the Redis leg is skipped: found there, it
 * spares the subgraph fetch (the benchmark's account pages, back after ~85 s, met products of a
 * 120 s max-age cold in memory and never asked Redis for them); invalidated since, Redis refuses it.
 */
describe("an entry this gateway's memory aged out of", () => {
  const REMEMBER_MS = 1_500;
  let aged: { store: TaggedStore; send: SendFetch };
  const agedCounted: Counted = { hit: 0, miss: 0, skipped: 0 };
  /** Whether `aged` answered product `n` without the subgraph. */
  const cachedAged = async (n: number) => {
    const before = subgraph.served();
    expect(await productId(aged.send, n)).toBe(String(n));
    return subgraph.served() === before;
  };
  const outlivedMemory = (since: number) =>
    eventually(async () => (Date.now() - since > REMEMBER_MS + 100 ? true : undefined), { timeoutMs: 10_000 });

  beforeAll(async () => {
    // Never probed, never quiet: the Redis leg, once skipped, is asked for nothing memory lacks.
    const policy = createLookupPolicy({ window: 20, publicWindowMs: 600_000, probeOneIn: 1_000_000 });
    aged = await startEntityCacheStack('catalog', countersOf(agedCounted), policy, { localMaxBytes: 1024 * 1024, rememberMs: REMEMBER_MS });
    stores.push(aged.store);
    // The shape learnt, then 20 round trips that found nothing: the leg is skipped.
    expect(await productId(aged.send, 0)).toBe('0');
    for (let n = 1; n <= 20; n++) expect(await cachedAged(n)).toBe(false);
  });

  it('is asked of Redis whatever the leg, and found there spares the fetch', async () => {
    expect(await cachedAged(500)).toBe(false);
    const written = Date.now();
    await eventually(async () => ((await cachedAged(500)) ? true : undefined));
    await outlivedMemory(written);
    expect(await cachedAged(500)).toBe(true);
    // Read back from Redis, memory vouches for it again.
    expect(await cachedAged(500)).toBe(true);
    // A key memory never held is still not asked of Redis (the leg stays skipped).
    expect(await cachedAged(501)).toBe(false);
  });

  it('a miss Redis reports drops only what memory aged out of, not an entry written since the read was sent', async () => {
    const key = `race:${Date.now()}`;
    // The read goes out first (memory lacks the key), the write after it on the same connection.
    const reading = aged.store.getMany([key]);
    await aged.store.put(key, '{"data":{}}', ['Product:race'], 60_000, aged.store.begin());
    expect(await reading).toEqual([null]);
    expect(aged.store.peek(key)?.body).toBe('{"data":{}}');
  });

  it('invalidated since, even after this gateway has forgotten the event, is fetched again', async () => {
    expect(await cachedAged(700)).toBe(false);
    await eventually(async () => ((await cachedAged(700)) ? true : undefined));
    await aged.store.invalidate(['Product:700']);
    const invalidated = Date.now();
    await outlivedMemory(invalidated);
    // Another event prunes what this gateway remembers: Product:700's is gone, only Redis's versions know.
    await aged.store.invalidate(['Product:other']);
    expect(await cachedAged(700)).toBe(false);
  });
});
