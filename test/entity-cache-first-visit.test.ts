import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRedisCallsUnder } from './support/redis-monitor.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/**
 * The private entity cache costs nothing for a caller seen once (gateway/cache/lookup-policy.ts):
 * through the real gateway and subgraphs, on a Redis server of this file's own (so its command
 * counts are this gateway's alone), a caller's first request makes no cache lookup and writes no
 * entry (counted as `result="skipped"`), their next one is kept without a lookup (it could only
 * miss), the one after is a hit, and two callers never see each other's entries.
 */

let stack: Stack;
let redis: Redis;

beforeAll(async () => {
  stack = await startStack({ bus: 'own-redis' });
  redis = new Redis(stack.ownRedis!.url, { maxRetriesPerRequest: null });
  redis.on('error', () => {});
}, 120_000);
afterAll(async () => {
  redis?.disconnect();
  await stack?.close();
});

// Only the users subgraph (never cached) and the orders subgraph's private `_entities` fetch.
const MY_ORDERS = 'query Mine { me { id orders(first: 5) { edges { node { id } } } } }';

type Counts = Record<'hit' | 'miss' | 'skipped', number>;
/** The gateway's entity cache lookups of one subgraph and scope, by result. */
async function lookups(subgraph: string, scope: 'public' | 'private'): Promise<Counts> {
  const text = await (await fetch(`${stack.supergraph.metricsUrls.gateway}/metrics`)).text();
  const counts: Counts = { hit: 0, miss: 0, skipped: 0 };
  for (const line of text.split('\n')) {
    if (!line.startsWith('gateway_entity_cache_total{') || !line.includes(`subgraph="${subgraph}"`) || !line.includes(`scope="${scope}"`))
      continue;
    const result = /result="(\w+)"/.exec(line)?.[1] as keyof Counts | undefined;
    if (result && result in counts) counts[result] += Number(line.split(' ').at(-1));
  }
  return counts;
}

/** Commands naming a cache entry (reads and writes) the gateway sent to Redis while `run` ran (the test's own looks apart). */
const cacheCalls = (run: () => Promise<unknown>) =>
  countRedisCallsUnder(stack.ownRedis!.url, redis, `${stack.eventNamespace}cache:e:`, run);

/** Whether some cache entry in Redis holds this text (an order id). */
async function stored(text: string): Promise<boolean> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${stack.eventNamespace}cache:e:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) if ((await redis.hget(key, 'b'))?.includes(text)) return true;
  } while (cursor !== '0');
  return false;
}

/** Tags the gateway has invalidated on OrderPlaced events so far. */
async function ordersPlaced(): Promise<number> {
  const text = await (await fetch(`${stack.supergraph.metricsUrls.gateway}/metrics`)).text();
  return Number(/^gateway_cache_invalidations_total\{[^}]*event="OrderPlaced"[^}]*\} (\S+)$/m.exec(text)?.[1] ?? 0);
}

/** A customer with one order, its OrderPlaced event heard by the gateway (no late event drops an entry below). */
async function customerWithOrder(name: string): Promise<{ user: TestUser; orderId: string }> {
  const user = await stack.customer(name);
  const product = await stack.product({ stock: 10 });
  const before = await ordersPlaced();
  const placed = await stack.gql(
    'mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }',
    { input: { items: [{ productId: product.id, quantity: 1 }], idempotencyKey: randomUUID() } },
    { token: user.token },
  );
  const orderId = placed.data.placeOrder.id as string;
  await eventually(async () => ((await ordersPlaced()) > before ? true : undefined), { timeoutMs: 30_000 });
  return { user, orderId };
}

/** The ids of the orders the gateway answers this customer with. */
async function ordersOf(user: TestUser): Promise<string[]> {
  const res = await stack.gql(MY_ORDERS, {}, { token: user.token });
  expect(res.errors).toBeUndefined();
  return res.data.me.orders.edges.map((e: { node: { id: string } }) => e.node.id);
}

describe('the private entity cache for callers seen once', () => {
  it('looks nothing up and keeps nothing on a first visit; keeps the next without a lookup, hits the one after; never across callers', async () => {
    const ada = await customerWithOrder('Ada First');
    const bob = await customerWithOrder('Bob First');

    // Bob teaches the gateway the shape (private) and comes back until his answer is a hit.
    expect(await ordersOf(bob.user)).toEqual([bob.orderId]);
    await eventually(async () => {
      const before = await lookups('orders', 'private');
      expect(await ordersOf(bob.user)).toEqual([bob.orderId]);
      return (await lookups('orders', 'private')).hit > before.hit ? true : undefined;
    });
    // His entry has reached Redis: no write of his is still on its way below.
    await eventually(async () => ((await stored(bob.orderId)) ? true : undefined));

    // Ada's first visit is skipped: no entry read or written in Redis, nothing of hers stored. Her second
    // is kept but not looked up (her first kept nothing, so it could only miss): one write in the two,
    // no read. Counted until her entry is stored (the gateway gathers writes for a few ms), so a write
    // of the first visit would be counted too.
    const first = await lookups('orders', 'private');
    const calls = await cacheCalls(async () => {
      expect(await ordersOf(ada.user)).toEqual([ada.orderId]);
      expect(await lookups('orders', 'private')).toEqual({ ...first, skipped: first.skipped + 1 });
      expect(await stored(ada.orderId)).toBe(false);
      expect(await ordersOf(ada.user)).toEqual([ada.orderId]);
      expect(await lookups('orders', 'private')).toEqual({ ...first, skipped: first.skipped + 2 });
      await eventually(async () => ((await stored(ada.orderId)) ? true : undefined));
    });
    expect(calls).toBe(1);

    // Her third is a hit, and still her own answer; Bob's is still his.
    const third = await lookups('orders', 'private');
    expect(await ordersOf(ada.user)).toEqual([ada.orderId]);
    expect((await lookups('orders', 'private')).hit).toBe(third.hit + 1);
    expect(await ordersOf(bob.user)).toEqual([bob.orderId]);
    expect(await ordersOf(ada.user)).toEqual([ada.orderId]);
  });
});
