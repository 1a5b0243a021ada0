import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster } from './support/cluster.js';
import type { Cluster } from './support/cluster.js';
import { orderInvariants, startLoad, summarize } from './support/redis-faults.js';
import type { Load } from './support/redis-faults.js';
import { eventually } from './support/stack.js';
import type { TestUser } from './support/stack.js';
import { wsClient } from './support/ws-client.js';
import type { TestWsClient } from './support/ws-client.js';

/**
 * Issue 19: Redis frozen (SIGSTOP: socket open, no answers, ioredis still `ready`) or killed, under
 * steady load through two gateways, each service its own process. Invariants, for the fault's whole
 * window:
 *  - no query fails, and each is answered within REDIS_COMMAND_TIMEOUT_MS (50 ms) + 50 ms of added
 *    latency; on this shared 2-core machine that is asserted as every answer within 2 s (the old
 *    code answered after the whole freeze, 15 s) and reported as percentiles;
 *  - /health/ready is 200 on both gateways, every probe answered within 2.5 s;
 *  - a live subscriber is told during the freeze: SUBSCRIPTION_INTERRUPTED with the id of the last
 *    event it received (resubscribing with `after` replays the rest);
 *  - placeOrder succeeds or fails with a coded error; afterwards every order has exactly one
 *    invoice and the product's stock is down by exactly what the orders hold;
 *  - SIGTERM stops a gateway and a subgraph within bounded time, exit code 0, while Redis is frozen,
 *    and an event whose append was cut is published once Redis answers again.
 */
const GATEWAYS = 2;
const STOCK = 1_000_000;
const LOADED_MACHINE_BOUND_MS = 2_000;
/** What a SIGTERM may take with Redis frozen: the pods' terminationGracePeriodSeconds (deploy/k8s), after which Kubernetes kills. */
const LOADED_MACHINE_SHUTDOWN_BOUND_MS = 30_000;

let cluster: Cluster;
let customer: TestUser;
let productId: string;
let client: TestWsClient | undefined;

beforeAll(async () => {
  cluster = await startCluster({ instances: { gateway: GATEWAYS }, logLevel: 'warn' });
  customer = await cluster.customer('Redis Outage');
  productId = (await cluster.product({ stock: STOCK, priceCents: 900 })).id;
}, 400_000);
afterAll(async () => {
  await client?.dispose();
  await cluster?.close();
}, 60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fault` (which returns when the fault ends) under load; returns the fault window's figures and the load. */
async function underLoad(
  fault: () => Promise<void>,
): Promise<{ window: ReturnType<typeof summarize>; before: ReturnType<typeof summarize>; load: Load }> {
  const load = startLoad({ cluster, gateways: GATEWAYS, customer, productId });
  await sleep(3_000);
  const from = Date.now();
  await fault();
  const to = Date.now();
  await sleep(3_000);
  await load.stop();
  return { window: summarize(load, from, to), before: summarize(load, from - 3_000, from), load };
}

function expectServed(name: string, result: Awaited<ReturnType<typeof underLoad>>) {
  const { window, before, load } = result;
  const windowOrders = load.orders.filter((o) => o.code);
  console.log(
    `[redis-outage] ${name}: before ${JSON.stringify(before)}; during ${JSON.stringify(window)}; order refusals ${JSON.stringify(windowOrders.map((o) => o.code))}`,
  );
  expect(window.queries).toBeGreaterThan(20);
  expect(window.failed).toEqual([]);
  expect(window.max).toBeLessThan(LOADED_MACHINE_BOUND_MS);
  expect(window.probesReady).toBe(window.probes);
  expect(window.probes).toBeGreaterThan(10);
  // A refused order says why, with a code of the contract (never a bare transport error).
  for (const o of load.orders) if (o.code) expect(o.code).toMatch(/^[A-Z_]+(,[A-Z_]+)*$/);
  expect(load.orders.filter((o) => o.id).length).toBeGreaterThan(5);
}

describe('Redis outages under load (issue 19)', () => {
  it('Redis frozen 15 s (SIGSTOP): every query answered in bounded time, gateways ready, one invoice per order, subscribers told', async () => {
    const pid = cluster.redis.pid()!;
    client = wsClient(cluster.url);
    const sub = client.subscribe(`subscription { stockChanged(productId: "${productId}") { id stock } }`);
    let toldAt = 0;
    const result = await underLoad(async () => {
      // Live before the freeze: orders of the load change the product's stock.
      await eventually(async () => (sub.results.some((r) => r.data) ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
      process.kill(pid, 'SIGSTOP');
      const frozenAt = Date.now();
      try {
        await eventually(async () => (sub.results.some((r) => r.errors) ? true : undefined), { timeoutMs: 14_000, intervalMs: 100 });
        toldAt = Date.now() - frozenAt;
        await sleep(Math.max(0, 15_000 - (Date.now() - frozenAt)));
      } finally {
        process.kill(pid, 'SIGCONT');
      }
    });
    expectServed('frozen 15 s', result);
    // The subscriber was told during the freeze, resumably, with the id of the last event it got.
    const delivered = sub.results.filter((r) => r.data).map((r) => r.extensions?.eventId);
    const ending = sub.results.find((r) => r.errors)?.errors?.[0]?.extensions;
    console.log(`[redis-outage] frozen 15 s: subscriber got ${delivered.length} events, then ${String(ending?.code)} after ${toldAt} ms`);
    expect(ending?.code).toBe('SUBSCRIPTION_INTERRUPTED');
    expect(ending?.lastEventId).toBe(delivered.at(-1));
    const invariants = await orderInvariants(cluster, productId, STOCK, 120_000);
    console.log(`[redis-outage] frozen 15 s: ${JSON.stringify(invariants)}`);
    expect(invariants).toEqual({ orders: invariants.orders, invoicedOnce: invariants.orders, invoicedTwice: 0, stockDrift: 0 });
  }, 400_000);

  it('Redis killed 10 s: readiness 200 throughout, every query answered, one invoice per order', async () => {
    const result = await underLoad(async () => {
      await cluster.redis.stop();
      try {
        await sleep(10_000);
      } finally {
        await cluster.redis.start();
      }
    });
    expectServed('killed 10 s', result);
    const invariants = await orderInvariants(cluster, productId, STOCK, 120_000);
    console.log(`[redis-outage] killed 10 s: ${JSON.stringify(invariants)}`);
    expect(invariants).toEqual({ orders: invariants.orders, invoicedOnce: invariants.orders, invoicedTwice: 0, stockDrift: 0 });
  }, 400_000);

  it('Redis frozen: SIGTERM stops gateways and catalog in bounded time (exit 0); the event whose append was cut is published afterwards', async () => {
    const admin = await cluster.admin();
    const pid = cluster.redis.pid()!;
    process.kill(pid, 'SIGSTOP');
    let thawed = false;
    try {
      // A change committed while Redis is frozen: its outbox row waits, the relay's append hangs.
      const changed = await cluster.gql(
        'mutation A($id: ID!) { adjustStock(productId: $id, delta: 1) { stock } }',
        { id: productId },
        { token: admin.token },
      );
      expect(changed.errors).toBeUndefined();
      const [row] = await cluster.sql.catalog<{ event_id: string; published_at: Date | null }[]>`
        select event_id, published_at from outbox where type = 'StockChanged' and payload->>'productId' = ${productId}
        order by position desc limit 1`;
      expect(row?.published_at).toBeNull();
      const stops = await Promise.all(
        (
          [
            ['gateway', 0],
            ['gateway', 1],
            ['catalog', 0],
          ] as const
        ).map(async ([name, i]) => {
          const from = Date.now();
          await cluster.stop(name, i);
          return { name, i, ms: Date.now() - from, code: cluster.exitCode(name, i) };
        }),
      );
      console.log(`[redis-outage] SIGTERM with Redis frozen: ${JSON.stringify(stops)}`);
      // Drain (2 s), the last field-usage flush (5 s deadline), then each Redis connection let go after 2 s.
      expect(stops.map((s) => s.code)).toEqual([0, 0, 0]);
      for (const stop of stops) expect(stop.ms).toBeLessThan(LOADED_MACHINE_SHUTDOWN_BOUND_MS);
      process.kill(pid, 'SIGCONT');
      thawed = true;
      // No event lost: catalog back, its relay publishes the row (a cut append may have landed too: consumers absorb copies).
      await cluster.start('catalog');
      await eventually(
        async () => {
          const [now] = await cluster.sql.catalog<
            { published_at: Date | null }[]
          >`select published_at from outbox where event_id = ${row!.event_id}`;
          return now?.published_at ? true : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      if (cluster.redisClient.status === 'wait') await cluster.redisClient.connect();
      const stream = (await cluster.redisClient.xrange(`${cluster.eventNamespace}events:catalog`, '-', '+')) as [string, string[]][];
      expect(stream.filter(([, fields]) => fields[1]?.includes(row!.event_id)).length).toBeGreaterThanOrEqual(1);
    } finally {
      if (!thawed) process.kill(pid, 'SIGCONT');
    }
  }, 400_000);
});
