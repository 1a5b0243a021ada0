import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster } from './support/cluster.js';
import type { Cluster } from './support/cluster.js';
import { orderInvariants } from './support/redis-faults.js';
import { eventually } from './support/stack.js';
import type { TestUser } from './support/stack.js';

/**
 * Issue 19: Redis full (maxmemory reached, policy noeviction: every write refused with OOM). While
 * it is full, queries are answered (cache writes, rate-limit counters and APQ writes are skipped or
 * counted in memory) and orders are placed (their events wait in the outbox). Once space is back
 * (CONFIG SET maxmemory raised), the events flow: every order gets exactly one invoice.
 */
const STOCK = 100_000;
let cluster: Cluster;
let customer: TestUser;
let productId: string;

beforeAll(async () => {
  cluster = await startCluster({ logLevel: 'warn' });
  customer = await cluster.customer('Redis Full');
  productId = (await cluster.product({ stock: STOCK, priceCents: 500 })).id;
  await cluster.redisClient.connect();
}, 400_000);
afterAll(async () => {
  await cluster?.redisClient.config('SET', 'maxmemory', '0').catch(() => undefined);
  await cluster?.close();
}, 60_000);

const ANONYMOUS = 'query($id: ID!) { product(id: $id) { id name stock } }';
const SIGNED_IN = 'query { me { id orders(first: 5) { edges { node { id status } } } } }';

describe('Redis full (issue 19)', () => {
  it('at maxmemory with noeviction: queries answered, orders placed; events delivered once space returns', async () => {
    const redis = cluster.redisClient;
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    // One byte: always below what Redis uses, however its memory moves meanwhile (the used figure raced: a
    // write of 1 KB once fit after keys expired between reading it and setting it).
    await redis.config('SET', 'maxmemory', '1');
    // Full for real: a write is refused.
    await expect(redis.set(`${cluster.eventNamespace}probe`, 'x'.repeat(1_000))).rejects.toThrow(/OOM/);

    const ids: string[] = [];
    const failed: string[] = [];
    for (let i = 0; i < 20; i++) {
      for (const [query, token] of [
        [ANONYMOUS, undefined],
        [SIGNED_IN, customer.token],
      ] as const) {
        const res = await cluster.gql(query, { id: productId }, token ? { token } : {});
        if (res.errors?.length || !res.data) failed.push(JSON.stringify(res.errors));
      }
      const res = await cluster.gql(
        'mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }',
        { input: { items: [{ productId, quantity: 1 }], idempotencyKey: `full-${randomUUID()}` } },
        { token: customer.token },
      );
      if (res.data?.placeOrder) ids.push(res.data.placeOrder.id as string);
      else failed.push(JSON.stringify(res.errors));
    }
    expect(failed).toEqual([]);
    // Still full: the events of these orders are waiting in the outbox, not lost.
    const [waiting] = await cluster.sql.orders<{ n: number }[]>`select count(*)::int as n from outbox where published_at is null`;
    expect(waiting!.n).toBeGreaterThan(0);

    await redis.config('SET', 'maxmemory', '0');
    await eventually(
      async () => {
        const [row] = await cluster.sql.orders<{ n: number }[]>`select count(*)::int as n from outbox where published_at is null`;
        return row!.n === 0 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const invariants = await orderInvariants(cluster, productId, STOCK, 120_000);
    console.log(
      `[redis-full] 40 queries and 20 orders while full, ${waiting!.n} events waited in the outbox; after: ${JSON.stringify(invariants)}`,
    );
    expect(invariants).toEqual({ orders: ids.length, invoicedOnce: ids.length, invoicedTwice: 0, stockDrift: 0 });
  }, 300_000);
});
