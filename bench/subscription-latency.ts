import { fork } from 'node:child_process';
import { writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { eventStreamStats } from '../gateway/subscriptions/event-stream.js';
import { ROOT } from '../platform/paths.js';
import { freePort } from '../scripts/free-port.js';
import { startRedisServer } from '../scripts/redis-server.js';
import { startBenchSupergraph } from './bench-supergraph.js';
import { createUserTokenSigner } from './user-tokens.js';

/**
 * `npm run bench:subscriptions`: delivery latency of subscription events with N concurrent
 * subscribers (default 1,000), through the real gateway, Redis Streams and pub/sub, on this machine.
 *   targeted:  N customers each watch their own orders; an admin ships one order of each, in turn.
 *   broadcast: N anonymous clients watch one product; an admin changes its stock, in turn.
 * Latency is measured from the commit of the change (the row's updated_at, set in the committing
 * transaction; same clock) to the moment the subscriber process receives the event.
 */
const N = Number(process.env.SUBSCRIBERS ?? 1000);
const BROADCAST_EVENTS = Number(process.env.BROADCAST_EVENTS ?? 20);

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const summary = (xs: number[]) => ({
  count: xs.length,
  p50: percentile(xs, 50),
  p90: percentile(xs, 90),
  p99: percentile(xs, 99),
  max: Math.max(...xs),
});

async function main() {
  const redis = await startRedisServer(await freePort());
  const { keys, supergraph, sql, close } = await startBenchSupergraph({
    pgPrefix: 'bench-subs-pg-',
    redisUrl: redis.url,
    eventNamespace: 'bench:',
    // Every subscriber comes from this one address: the per-address WebSocket cap (100) is lifted for it.
    extra: { gateway: { WS_MAX_CONNECTIONS_PER_IP: String(4 * N + 10) } },
  }).catch(async (err: unknown) => {
    await redis.stop();
    throw err;
  });
  const worker = fork(path.join(ROOT, 'bench/subscriber-worker.ts'), { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  try {
    // Customers and their PAID orders straight into the databases; tokens minted with the users key.
    const users = await sql.users`insert into users (email, name, role, password_hash)
      select 'sub' || g || '@bench.test', 'Subscriber ' || g, 'CUSTOMER', 'x' from generate_series(1, ${N}) g returning id`;
    const [adminRow] =
      await sql.users`insert into users (email, name, role, password_hash) values ('admin@bench.test', 'Bench Admin', 'ADMIN', 'x') returning id`;
    const [category] = await sql.catalog`insert into categories (slug, name) values ('bench', 'Bench') returning id`;
    const [product] =
      await sql.catalog`insert into products (sku, name, description, price_cents, currency, category_id, stock, weight_grams)
      values ('BENCH-1', 'Bench kettle', 'For measuring', 2500, 'USD', ${category!.id}, 1000000, 900) returning id`;
    const orders = await sql.orders`insert into orders (customer_id, status, total_cents, currency)
      select unnest(${users.map((u) => u.id)}::uuid[]), 'PAID', 2500, 'USD' returning id, customer_id`;
    await sql.orders`insert into order_items (order_id, product_id, quantity, unit_price_cents, currency, position)
      select unnest(${orders.map((o) => o.id)}::uuid[]), ${product!.id}, 1, 2500, 'USD', 0`;
    const sign = await createUserTokenSigner(keys);
    const token = (sub: string, role: 'CUSTOMER' | 'ADMIN') => sign(sub, role, '1h');
    const adminToken = await token(adminRow!.id, 'ADMIN');

    interface Received {
      at: number;
      subscriber: number;
      data: any;
    }
    const runScenario = async (
      name: string,
      subscriptions: { token?: string; query: string; variables?: Record<string, unknown> }[],
      fire: () => Promise<{ at: number }[]>,
      expected: number,
      received: Received[] = [],
    ) => {
      const base = eventStreamStats.open;
      const onMessage = (msg: any) => {
        if (msg.received) received.push(msg.received);
        if (msg.error) console.error(`${name}: subscriber error: ${msg.error}`);
      };
      worker.on('message', onMessage);
      const ready = new Promise<void>((resolve) => {
        const onReady = (m: any) => {
          if (m.ready === undefined) return;
          worker.off('message', onReady);
          resolve();
        };
        worker.on('message', onReady);
      });
      const started = Date.now();
      worker.send({ url: supergraph.gatewayUrl, subscriptions });
      await ready;
      while (eventStreamStats.open < base + subscriptions.length) await new Promise((r) => setTimeout(r, 20));
      const connectMs = Date.now() - started;
      const commits = await fire();
      const deadline = Date.now() + 60_000;
      while (received.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      worker.off('message', onMessage);
      return { connectMs, received, commits };
    };

    // Targeted: each customer sees only the shipping of their own order.
    const targeted = await runScenario(
      'targeted',
      await Promise.all(
        users.map(async (u) => ({ token: await token(u.id, 'CUSTOMER'), query: 'subscription { orderStatusChanged { id status } }' })),
      ),
      async () => {
        const commits = [];
        for (const o of orders) {
          const res = await fetch(supergraph.gatewayUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
            body: JSON.stringify({
              query: 'mutation($id: ID!) { setOrderStatus(id: $id, status: SHIPPED) { updatedAt } }',
              variables: { id: o.id },
            }),
          });
          const body = await res.json();
          commits.push({ at: new Date(body.data.setOrderStatus.updatedAt).getTime(), id: o.id });
        }
        return commits;
      },
      N,
    );
    const commitAt = new Map((targeted.commits as { at: number; id: string }[]).map((c) => [c.id, c.at]));
    const targetedLatency = targeted.received.map((r) => r.at - commitAt.get(r.data.orderStatusChanged.id)!);
    const wrongOwner = targeted.received.filter((r) => orders[r.subscriber]!.id !== r.data.orderStatusChanged.id).length;

    // Broadcast: every anonymous subscriber sees every stock change of one product.
    const broadcastReceived: Received[] = [];
    const broadcastSeen = () => broadcastReceived.length;
    const broadcast = await runScenario(
      'broadcast',
      Array.from({ length: N }, () => ({
        query: 'subscription($p: ID!) { stockChanged(productId: $p) { stock } }',
        variables: { p: product!.id },
      })),
      async () => {
        const commits = [];
        for (let i = 0; i < BROADCAST_EVENTS; i++) {
          const before = broadcastSeen();
          await fetch(supergraph.gatewayUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
            body: JSON.stringify({
              query: 'mutation($id: ID!) { adjustStock(productId: $id, delta: -1) { stock } }',
              variables: { id: product!.id },
            }),
          });
          const [row] = await sql.catalog`select stock, updated_at from products where id = ${product!.id}`;
          commits.push({ at: new Date(row!.updated_at).getTime(), stock: row!.stock });
          // One change at a time: wait until every subscriber has it (bounded), so events do not queue up.
          const until = Date.now() + 10_000;
          while (broadcastSeen() < before + N && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
        }
        return commits;
      },
      N * BROADCAST_EVENTS,
      broadcastReceived,
    );
    const stockCommit = new Map((broadcast.commits as { at: number; stock: number }[]).map((c) => [c.stock, c.at]));
    const broadcastLatency = broadcast.received
      .map((r) => r.at - stockCommit.get(r.data.stockChanged.stock)!)
      .filter((x) => Number.isFinite(x));

    const result = {
      machine: {
        cpus: os.cpus().length,
        model: os.cpus()[0]?.model,
        node: process.version,
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      },
      subscribers: N,
      targeted: {
        connectAllMs: targeted.connectMs,
        delivered: targeted.received.length,
        expected: N,
        wrongOwner,
        latencyMs: summary(targetedLatency),
      },
      broadcast: {
        events: BROADCAST_EVENTS,
        delivered: broadcast.received.length,
        expected: N * BROADCAST_EVENTS,
        latencyMs: summary(broadcastLatency),
      },
    };
    console.log(JSON.stringify(result, null, 2));
    await mkdir(path.join(ROOT, 'bench/results'), { recursive: true });
    await writeFile(path.join(ROOT, 'bench/results/subscription-latency.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    worker.send({ stop: true });
    await close();
    await redis.stop();
  }
}

await main();
