import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaggedStore } from '../gateway/cache/tagged-store.js';
import type { FetchFacts, SendFetch } from '../gateway/subgraph-fetch-stack.js';
import { createLookupPolicy } from '../gateway/cache/lookup-policy.js';
import { CACHE_TAGS_HEADER } from '../platform/cache-tags.js';
import { startEntityCacheStack } from './support/entity-cache-stack.js';
import { eventually } from './support/stack.js';

/**
 * The entity cache keeps a private answer per caller, and the caller is the one the request's
 * context names (the fetch's facts), not anything in the fetch's headers: every fetch here carries
 * the same service token header (naming nobody in particular), so only the facts tell Ada from Bob.
 * A real subgraph-like server on loopback (private max-age, cache tags) and the run's Redis.
 */

let served = 0;
const subgraph = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    served += 1;
    res
      .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60, private', [CACHE_TAGS_HEADER]: 'order:1' })
      .end(JSON.stringify({ data: { myOrders: [{ id: '1', answer: served }] } }));
  });
});

let url: string;
let store: TaggedStore;
let send: SendFetch;

beforeAll(async () => {
  await new Promise<void>((resolve) => subgraph.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(subgraph.address() as AddressInfo).port}/graphql`;
  ({ store, send } = await startEntityCacheStack('orders', { hit: () => {}, miss: () => {}, skipped: () => {} }));
});
afterAll(async () => {
  await store?.close();
  subgraph.closeAllConnections();
  await new Promise((resolve) => subgraph.close(resolve));
});

const BODY = JSON.stringify({ query: 'query MyOrders__orders__0 { myOrders { id answer } }', variables: {} });
// The same header on every fetch: were the cache to key by it, Ada and Bob would share an entry.
const HEADERS = { 'content-type': 'application/json', 'x-internal-token': 'the-same-token-for-everyone' };

/** One fetch with the given facts; the answer's number says which subgraph response it was. */
async function fetchAs(facts: Partial<FetchFacts>, through = send): Promise<{ answer: number; cacheControl: string | null }> {
  const response = await through({
    subgraph: 'orders',
    operation: 'query',
    caller: null,
    lsn: undefined,
    requestId: undefined,
    ...facts,
    url,
    init: { method: 'POST', headers: HEADERS, body: BODY },
  });
  const body = (await response.json()) as { data: { myOrders: { answer: number }[] } };
  return { answer: body.data.myOrders[0]!.answer, cacheControl: response.headers.get('cache-control') };
}

/** Fetches as `caller` until an answer comes from the cache (the subgraph served nothing for it); that answer. */
async function cachedFor(caller: string): Promise<number> {
  return eventually(async () => {
    const before = served;
    const { answer } = await fetchAs({ caller });
    return served === before ? answer : undefined;
  });
}

describe('the entity cache keys private answers by the context’s caller', () => {
  it("serves Ada her own cached answer and Bob his, though their fetches' headers are the same", async () => {
    const ada = JSON.stringify(['ada', 'CUSTOMER', []]);
    const bob = JSON.stringify(['bob', 'CUSTOMER', []]);
    const adaAnswer = await cachedFor(ada);
    // Bob's first fetch is not Ada's entry: the subgraph answers him.
    const before = served;
    const first = await fetchAs({ caller: bob });
    expect(served).toBe(before + 1);
    expect(first.answer).not.toBe(adaAnswer);
    // A private max-age stays between subgraph and gateway.
    expect(first.cacheControl).toBe('no-store');
    const bobAnswer = await cachedFor(bob);
    expect(bobAnswer).not.toBe(adaAnswer);
    expect(await cachedFor(ada)).toBe(adaAnswer);
  });

  it('keeps nothing private without a caller, and lets mutations and read-your-writes fetches through', async () => {
    const ada = JSON.stringify(['ada', 'CUSTOMER', []]);
    await cachedFor(ada);
    for (const facts of [{ caller: null }, { caller: ada, operation: 'mutation' as const }, { caller: ada, lsn: '0/16B3748' }]) {
      const before = served;
      await fetchAs(facts);
      await fetchAs(facts);
      expect(served).toBe(before + 2);
    }
  });
});

/**
 * A private entry lives for its max-age (60 s here), so a caller's return can hit only within it:
 * a caller who comes back later is a first visit again, and neither looks up nor keeps anything;
 * the first return within it keeps, and only the next looks up (lookup-policy.ts). The policy's
 * clock is moved instead of waiting a minute.
 */
describe('a caller who comes back after the max-age', () => {
  it('neither looks up nor keeps; coming back within it keeps, and the visit after looks up', async () => {
    let clock = 1_000_000;
    const counted = { hit: 0, miss: 0, skipped: 0 };
    const counters = {
      hit: () => void (counted.hit += 1),
      miss: () => void (counted.miss += 1),
      skipped: () => void (counted.skipped += 1),
    };
    const own = await startEntityCacheStack('orders', counters, createLookupPolicy({ now: () => clock }));
    try {
      const carol = JSON.stringify(['carol', 'CUSTOMER', []]);
      const visit = (requestId: string) => fetchAs({ caller: carol, requestId }, own.send);
      // Learns the shape; a first visit keeps nothing.
      await visit('r1');
      clock += 70_000;
      const before = served;
      await visit('r2');
      expect(served).toBe(before + 1);
      // 70 s after r1: what r1 could have kept has expired. Not looked up (skipped), and r2 keeps nothing either, so r3 misses.
      expect(counted).toEqual({ hit: 0, miss: 0, skipped: 1 });
      clock += 1_000;
      await visit('r3');
      expect(served).toBe(before + 2);
      // r3 came within the max-age of r2, but r2 kept nothing: not looked up (it could only miss); r3 keeps.
      expect(counted).toEqual({ hit: 0, miss: 0, skipped: 2 });
      // r3 kept its answer (written once the write lands): a later visit within r3's max-age looks up and is served from it.
      clock += 1_000;
      let n = 4;
      await eventually(async () => {
        const before = served;
        await visit(`r${n++}`);
        return served === before ? true : undefined;
      });
      expect(counted.hit).toBe(1);
      expect(counted.skipped).toBe(2);
    } finally {
      await own.store.close();
    }
  });
});
