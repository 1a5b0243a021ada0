import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster } from './support/cluster.js';
import type { Cluster } from './support/cluster.js';
import { placeOrderRetried } from './support/client-retries.js';
import { eventually } from './support/stack.js';
import type { TestUser } from './support/stack.js';

/**
 * Issue 9, case 6: the outbox is the source of truth and Redis only a transport. When Redis loses
 * writes it had acknowledged, the relays notice (the stream's last-generated-id is below what they
 * recorded) and relay those rows again; consumers absorb what they already had.
 */
let cluster: Cluster;
let customer: TestUser;
let productId: string;

beforeAll(async () => {
  cluster = await startCluster({ logLevel: 'warn' });
  customer = await cluster.customer('Redis Loss');
  productId = (await cluster.product({ stock: 100_000, priceCents: 700 })).id;
}, 400_000);
afterAll(async () => {
  await cluster?.close();
}, 60_000);

const placeOrders = async (n: number) => {
  const ids: string[] = [];
  // Retried with the same key when the loaded machine times a call out: still one order.
  for (let i = 0; i < n; i++) ids.push(await placeOrderRetried(cluster, customer.token, productId, 'loss'));
  return ids;
};

/** Every outbox row of these orders is marked published: Redis acknowledged its XADD. */
const relayed = (ids: string[]) =>
  eventually(
    async () => {
      const [n] = await cluster.sql.orders`select count(*)::int as n from outbox
      where payload->>'orderId' = any(${ids}) and type = 'OrderPlaced' and published_at is not null`;
      return n!.n === ids.length ? true : undefined;
    },
    { timeoutMs: 60_000 },
  );

/** How many of these orders have exactly one invoice, once the count stops rising (or all have one). */
async function invoicedOnce(ids: string[], timeoutMs: number) {
  const count = async () => {
    const rows = await cluster.sql
      .billing`select order_id, count(*)::int as n from invoices where order_id = any(${ids}) group by order_id`;
    return { once: rows.filter((r) => r.n === 1).length, more: rows.filter((r) => r.n > 1).length };
  };
  const deadline = Date.now() + timeoutMs;
  let last = await count();
  while (last.once < ids.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    last = await count();
  }
  return last;
}

describe('Redis loses acknowledged writes (issue 9, case 6)', () => {
  it('FLUSHALL with billing stopped: every order still gets exactly one invoice', async () => {
    await cluster.kill('billing');
    const ids = await placeOrders(73);
    await relayed(ids);
    await cluster.flushRedis();
    await cluster.start('billing');
    const figures = await invoicedOnce(ids, 120_000);
    console.log(
      `FLUSHALL with billing stopped: ${figures.once} of ${ids.length} orders invoiced exactly once, ${figures.more} more than once`,
    );
    expect(figures).toEqual({ once: ids.length, more: 0 });
  }, 400_000);

  it('a Redis restart that comes back without its latest writes (AOF off, as a stale snapshot or replica): nothing lost, nothing doubled', async () => {
    const before = await placeOrders(10);
    expect((await invoicedOnce(before, 120_000)).once).toBe(10);
    // From here Redis keeps writes in memory only: the restart below brings back the state of this moment.
    await cluster.redisClient.config('SET', 'appendonly', 'no');
    await cluster.kill('billing');
    const lost = await placeOrders(30);
    await relayed(lost);
    await cluster.redis.restart();
    await cluster.start('billing');
    const figures = await invoicedOnce(lost, 120_000);
    console.log(
      `Redis restarted without its last writes: ${figures.once} of ${lost.length} orders invoiced exactly once, ${figures.more} more than once`,
    );
    expect(figures).toEqual({ once: lost.length, more: 0 });
    expect(await invoicedOnce(before, 1_000)).toEqual({ once: 10, more: 0 });
  }, 400_000);
});
