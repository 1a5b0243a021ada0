import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster } from './support/cluster.js';
import type { Cluster } from './support/cluster.js';
import { orderInvariants, startLoad } from './support/redis-faults.js';
import { sentinelEnv, startSentinelRedis } from './support/redis-sentinel.js';
import type { SentinelRedis } from './support/redis-sentinel.js';
import { eventually } from './support/stack.js';
import type { TestUser } from './support/stack.js';

/**
 * A failover that loses writes Redis acknowledged. The replica stops receiving the primary's
 * replication stream (its link's packets dropped), orders are placed and their events appended and
 * acknowledged on the primary alone, then the primary is killed and the replica, which never had
 * them, promoted. Orders keep coming throughout, so the relays' next appends reach the new primary
 * as soon as they reconnect. Invariants: every outbox row marked published is in its stream on the
 * new primary (by event id), every order has exactly one invoice, stock is exact.
 */
const STOCK = 1_000_000;
const BACKLOG = 12_000;

let sentinel: SentinelRedis;
let cluster: Cluster;
let customer: TestUser;
let productId: string;

beforeAll(async () => {
  sentinel = await startSentinelRedis();
  cluster = await startCluster({ logLevel: 'warn', extra: sentinelEnv(sentinel) });
  customer = await cluster.customer('Lost Writes');
  productId = (await cluster.product({ stock: STOCK, priceCents: 500 })).id;
}, 400_000);
afterAll(async () => {
  await cluster?.close();
  await sentinel?.stop();
}, 60_000);

/** The databases of the services that publish events (those with an outbox). */
async function producers() {
  const out = [];
  for (const sql of Object.values(cluster.sql)) if ((await sql`select to_regclass('outbox') as t`)[0]!.t) out.push(sql);
  return out;
}

/** Event ids of every outbox row marked published. */
async function publishedEventIds(): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const sql of await producers()) {
    for (const row of await sql<{ event_id: string }[]>`select event_id from outbox where published_at is not null`) ids.add(row.event_id);
  }
  return ids;
}

/** Event ids held by the streams of the server on `port`. */
async function streamEventIds(port: number): Promise<Set<string>> {
  const redis = sentinel.client(port);
  try {
    const ids = new Set<string>();
    for (const key of await redis.keys('*events:*')) {
      if ((await redis.type(key)) !== 'stream') continue;
      for (const [, fields] of (await redis.xrange(key, '-', '+')) as [string, string[]][]) {
        ids.add((JSON.parse(fields[1]!) as { eventId: string }).eventId);
      }
    }
    return ids;
  } finally {
    redis.disconnect();
  }
}

const unpublished = async () => {
  let n = 0;
  for (const sql of await producers())
    n += (await sql<{ n: number }[]>`select count(*)::int as n from outbox where published_at is null`)[0]!.n;
  return n;
};

describe('Redis failover losing acknowledged writes', () => {
  it('replica cut off, events acknowledged by the primary alone, primary killed under load: every published event is in the new primary’s streams, one invoice per order', async () => {
    const before = await sentinel.primaryPort();
    const restore = await sentinel.cutReplication();
    const load = startLoad({ cluster, gateways: 1, customer, productId, orderEveryMs: 100 });
    // Events acknowledged by the primary only: orders placed and their rows published after the cut.
    await eventually(async () => (load.orders.filter((o) => o.id).length >= 5 ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
    await eventually(async () => ((await unpublished()) === 0 ? true : undefined), { timeoutMs: 60_000, intervalMs: 100 });
    const acknowledged = await publishedEventIds();

    const killed = await sentinel.killPrimary();
    expect(killed).toBe(before);
    // A backlog waiting when the relays come back, as after any outage (events of a product nobody reads).
    // Appended before the check, it would push what was lost out of its reach (the newest 10,000 events).
    const ghost = randomUUID();
    await cluster.sql.catalog`insert into outbox (event_id, type, payload, entity, seq)
      select gen_random_uuid(), 'StockChanged', jsonb_build_object('productId', ${ghost}::text, 'stock', g, 'priceCents', 1), ${`product:${ghost}`}, g
      from generate_series(1, ${BACKLOG}::int) g`;
    await restore();
    const promoted = await eventually(
      async () => {
        const port = await sentinel.primaryPort();
        return port !== killed ? port : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    // The fault took: the promoted replica lacks events the old primary had acknowledged.
    const heldByReplica = await streamEventIds(promoted);
    const lost = [...acknowledged].filter((id) => !heldByReplica.has(id));
    console.log(`[redis-lost-writes] primary ${killed} killed, ${promoted} promoted; ${lost.length} acknowledged events not on it`);
    expect(lost.length).toBeGreaterThan(0);

    await eventually(async () => (load.orders.filter((o) => o.id && o.at > Date.now() - 2_000).length >= 3 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    await load.stop();

    const invariants = await orderInvariants(cluster, productId, STOCK, 180_000);
    console.log(`[redis-lost-writes] ${JSON.stringify(invariants)}`);
    expect(invariants).toEqual({ orders: invariants.orders, invoicedOnce: invariants.orders, invoicedTwice: 0, stockDrift: 0 });
    // Every event the outbox records as published is in the streams, the lost ones appended again.
    const missing = await eventually(
      async () => {
        if ((await unpublished()) > 0) return undefined;
        const held = await streamEventIds(promoted);
        const gone = [...(await publishedEventIds())].filter((id) => !held.has(id));
        return gone.length === 0 ? gone : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(missing).toEqual([]);
    // Operators see it: each producer counts the rows it relayed again.
    let republished = 0;
    for (const name of ['catalog', 'orders', 'billing'] as const) {
      const text = await (await fetch(`${cluster.metricsUrl(name)}/metrics`)).text();
      republished += Number(/^events_republished_total\{[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
    }
    expect(republished).toBeGreaterThanOrEqual(lost.length);
  }, 600_000);
});
