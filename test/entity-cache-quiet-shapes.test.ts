import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheScope, EntityCacheCounters } from '../gateway/cache/cached-fetcher.js';
import { createLookupPolicy } from '../gateway/cache/lookup-policy.js';
import type { TaggedStore } from '../gateway/cache/tagged-store.js';
import type { SendFetch } from '../gateway/subgraph-fetch-stack.js';
import { fetchProductId, productFetchBody, startEntityCacheStack, startProductSubgraph } from './support/entity-cache-stack.js';
import { eventually } from './support/stack.js';

/**
 * A fetch shape whose lookups never hit goes quiet (gateway/cache/lookup-policy.ts): only probed
 * keys are still looked up, the rest are skipped (and counted so), every answer still comes from
 * the subgraph, and the first probe that hits brings lookups back. A real subgraph-like server on
 * loopback (public max-age, cache tags) and the run's Redis; a window of 20 lookups (no least time) and one key in 4 probed.
 */

let subgraph: Awaited<ReturnType<typeof startProductSubgraph>>;

let url: string;
let store: TaggedStore;
let send: SendFetch;
const policy = createLookupPolicy({ window: 20, windowMs: 0, publicWindowMs: 0, probeOneIn: 4 });
const counted = { hit: 0, miss: 0, skipped: 0 };
const count =
  (result: keyof typeof counted) =>
  (_subgraph: string, _scope: CacheScope, n = 1) =>
    void (counted[result] += n);
const counters: EntityCacheCounters = { hit: count('hit'), miss: count('miss'), skipped: count('skipped') };

beforeAll(async () => {
  subgraph = await startProductSubgraph();
  url = subgraph.url;
  ({ store, send } = await startEntityCacheStack('catalog', counters, policy));
});
afterAll(async () => {
  await store?.close();
  await subgraph?.close();
});

const bodyOf = productFetchBody;
const productId = (n: number) => fetchProductId(send, url, n);

describe('a shape that never hits', () => {
  it('is only probed, answers stay right, and a probe that hits brings lookups back', async () => {
    // Products never asked twice: after the first answer teaches the shape, 20 misses fill it (a
    // first window is not judged), and 20 more quiet it.
    let n = 0;
    for (; n < 41; n++) expect(await productId(n)).toBe(String(n));
    expect(counted).toEqual({ hit: 0, miss: 40, skipped: 0 });
    // Quiet: of the next 40, only probed keys are looked up; all are answered by the subgraph.
    const before = { ...counted, served: subgraph.served() };
    const next = Array.from({ length: 40 }, (_, i) => n + i);
    for (const k of next) expect(await productId(k)).toBe(String(k));
    const probed = next.filter((k) => policy.probes(bodyOf(k)));
    expect(probed.length).toBeGreaterThan(0);
    expect(counted).toEqual({ hit: 0, miss: before.miss + probed.length, skipped: 40 - probed.length });
    expect(subgraph.served()).toBe(before.served + 40);

    // A probed key asked again: kept by its probe, it hits, and the shape is looked up again.
    const again = probed[0]!;
    await eventually(async () => {
      const hits = counted.hit;
      expect(await productId(again)).toBe(String(again));
      return counted.hit > hits ? true : undefined;
    });
    const unprobed = next.find((k) => !policy.probes(bodyOf(k)))!;
    const skipped = counted.skipped;
    expect(await productId(unprobed)).toBe(String(unprobed));
    expect(counted.skipped).toBe(skipped);
  });
});
