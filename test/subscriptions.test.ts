import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventStreamStats } from '../gateway/subscriptions/event-stream.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';
import { wsClient } from './support/ws-client.js';
import type { TestWsClient } from './support/ws-client.js';

let stack: Stack;
let redis: Redis;
let admin: TestUser;
let productId: string;
const clients: TestWsClient[] = [];
const connect = (url: string, token?: string) => {
  const c = wsClient(url, token);
  clients.push(c);
  return c;
};

beforeAll(async () => {
  stack = await startStack();
  redis = new Redis(stack.redisUrl!);
  admin = await stack.admin();
  productId = (await stack.product({ stock: 10_000, priceCents: 2500 })).id;
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  redis?.disconnect();
  await stack?.close();
});

/** Waits until n more event streams are open than `base` (subscriptions are established server-side). */
const streamsOpen = (base: number, n = 1) => eventually(async () => (eventStreamStats.open >= base + n ? true : undefined));

let keySeq = 0;
async function placeOrder(customer: TestUser): Promise<{ id: string; number: number }> {
  const res = await stack.gql(
    `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id number } }`,
    { input: { items: [{ productId, quantity: 1 }], idempotencyKey: `sub-test-${keySeq++}-${Date.now()}` } },
    { token: customer.token },
  );
  if (!res.data?.placeOrder) throw new Error(JSON.stringify(res.errors));
  return res.data.placeOrder;
}

const FEDERATED = `subscription { orderStatusChanged { id number status total { amountCents }
  customer { name email } items { quantity product { name stock } } invoice { status } } }`;

describe('subscriptions through the gateway', () => {
  it('delivers, through gateway B, an event caused on gateway A, with fields from all four subgraphs', async () => {
    const customer = await stack.customer('Federated Fan');
    const gatewayB = await stack.extraGateway();
    const base = eventStreamStats.open;
    const sub = connect(gatewayB.url, customer.token).subscribe(FEDERATED);
    await streamsOpen(base);
    const order = await placeOrder(customer);
    const first = await sub.nth(1);
    expect(first.errors).toBeUndefined();
    expect(first.extensions?.eventId).toMatch(/^\d+-\d+$/);
    expect(first.data.orderStatusChanged).toMatchObject({
      id: order.id,
      number: order.number,
      status: 'PENDING_PAYMENT',
      total: { amountCents: 2500 },
      customer: { name: 'Federated Fan', email: customer.email },
      items: [{ quantity: 1, product: { name: expect.any(String), stock: expect.any(Number) } }],
    });
    // Paying moves the order to PAID through billing's event; the subscriber sees that too.
    const invoice = await eventually(async () => (await stack.sql.billing`select id from invoices where order_id = ${order.id}`)[0]);
    await stack.gql(
      `mutation($input: PayInvoiceInput!) { payInvoice(input: $input) { id } }`,
      { input: { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: `pay-${order.id}` } },
      { token: customer.token },
    );
    const paid = await eventually(async () => sub.results.find((r) => r.data?.orderStatusChanged?.status === 'PAID'));
    expect(paid.data.orderStatusChanged.invoice).toEqual({ status: 'PAID' });
  });

  it("a customer never receives another customer's events; an admin receives all", async () => {
    const [ann, bob] = await Promise.all([stack.customer('Ann'), stack.customer('Bob')]);
    const query = 'subscription { orderStatusChanged { id customer { name } } }';
    const base = eventStreamStats.open;
    const annSub = connect(stack.url, ann.token).subscribe(query);
    const bobSub = connect(stack.url, bob.token).subscribe(query);
    const adminSub = connect(stack.url, admin.token).subscribe(query);
    await streamsOpen(base, 3);
    const annOrder = await placeOrder(ann);
    const bobOrder = await placeOrder(bob);
    const annMarker = await placeOrder(ann);
    const bobMarker = await placeOrder(bob);
    await annSub.nth(2);
    await bobSub.nth(2);
    expect(annSub.results.map((r) => r.data.orderStatusChanged.id)).toEqual([annOrder.id, annMarker.id]);
    expect(bobSub.results.map((r) => r.data.orderStatusChanged.id)).toEqual([bobOrder.id, bobMarker.id]);
    const adminSeen = await eventually(async () => {
      const ids = adminSub.results.map((r) => r.data.orderStatusChanged.id);
      return [annOrder.id, bobOrder.id, annMarker.id, bobMarker.id].every((id) => ids.includes(id)) ? ids : undefined;
    });
    expect(adminSeen).toEqual(expect.arrayContaining([annOrder.id, bobOrder.id]));
  });

  it('resumes after a drop: exactly the missed events, in order, then live ones', async () => {
    const customer = await stack.customer('Mobile');
    const query = 'subscription($after: String) { orderStatusChanged(after: $after) { id status } }';
    const first = connect(stack.url, customer.token);
    const base = eventStreamStats.open;
    const sub = first.subscribe(query, {});
    await streamsOpen(base);
    await placeOrder(customer);
    const lastSeen = (await sub.nth(1)).extensions!.eventId!;
    await first.dispose();
    const missed = [await placeOrder(customer), await placeOrder(customer), await placeOrder(customer)];
    const resumed = connect(stack.url, customer.token).subscribe(query, { after: lastSeen });
    await resumed.nth(3);
    const live = await placeOrder(customer);
    await resumed.nth(4);
    expect(resumed.results.map((r) => r.data.orderStatusChanged.id)).toEqual([...missed.map((o) => o.id), live.id]);
    const ids = resumed.results.map((r) => r.extensions!.eventId!);
    expect(new Set(ids).size).toBe(4);
  });

  it('an after older than the retention window is BAD_USER_INPUT telling the client to refetch', async () => {
    const customer = await stack.customer();
    const base = eventStreamStats.open;
    const sub = connect(stack.url, customer.token).subscribe('subscription { orderStatusChanged { id } }');
    await streamsOpen(base);
    await placeOrder(customer);
    const old = (await sub.nth(1)).extensions!.eventId!;
    await placeOrder(customer);
    await sub.nth(2);
    await redis.xtrim(`${stack.eventNamespace}events:orders`, 'MAXLEN', 0);
    const late = connect(stack.url, customer.token).subscribe('subscription($a: String) { orderStatusChanged(after: $a) { id } }', {
      a: old,
    });
    const result = await late.nth(1);
    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.message).toMatch(/retention/);
  });

  it('anonymous callers may watch stock, and nothing else', async () => {
    const anon = connect(stack.url);
    const base = eventStreamStats.open;
    const stock = anon.subscribe('subscription($p: ID!) { stockChanged(productId: $p) { id stock price { amountCents } } }', {
      p: productId,
    });
    await streamsOpen(base);
    const adjust = await stack.gql(
      `mutation($id: ID!) { adjustStock(productId: $id, delta: 5) { stock } }`,
      { id: productId },
      { token: admin.token },
    );
    const event = await stock.nth(1);
    expect(event.data.stockChanged).toEqual({ id: productId, stock: adjust.data.adjustStock.stock, price: { amountCents: 2500 } });
    const orders = anon.subscribe('subscription { orderStatusChanged { id } }');
    const refused = await orders.nth(1);
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('a bad token is refused at connection_init with 4403', async () => {
    const bad = connect(stack.url, 'not-a-token');
    bad.subscribe('subscription { orderStatusChanged { id } }');
    expect(await bad.closed).toBe(4403);
  });

  it('bounds subscriptions per connection', async () => {
    const customer = await stack.customer();
    const c = connect(stack.url, customer.token);
    const subs = Array.from({ length: 21 }, () => c.subscribe('subscription { orderStatusChanged { id } }'));
    // The 21st is refused; the first 20 stay open.
    const err = await subs[20]!.ended;
    expect(JSON.stringify(err)).toMatch(/At most 20 subscriptions/);
  });

  it('1,000 connect/subscribe/disconnect cycles release every Redis subscription and stream', async () => {
    const channel = `${stack.eventNamespace}live:StockChanged`;
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
    await eventually(async () => (eventStreamStats.open === 0 ? true : undefined));
    const [, baseline] = (await redis.pubsub('NUMSUB', channel)) as [string, number];
    // Identical subscriptions on one gateway share one Redis subscription.
    const base = eventStreamStats.open;
    const watchers = Array.from({ length: 20 }, () => connect(stack.url));
    watchers.forEach((w) => w.subscribe('subscription($p: ID!) { stockChanged(productId: $p) { id } }', { p: productId }));
    await streamsOpen(base, 20);
    const [, shared] = (await redis.pubsub('NUMSUB', channel)) as [string, number];
    // One in all: the gateway's cache (gateway/cache/) may already hold the channel for its invalidations.
    expect(shared).toBe(Math.max(baseline, 1));
    await Promise.all(clients.splice(0).map((c) => c.dispose()));
    await eventually(async () => (eventStreamStats.open === 0 ? true : undefined));
    const listenersBefore = process.listenerCount('SIGTERM') + process.listenerCount('exit');
    // Every cycle waits for one replayed event, which proves its subscription was really open.
    const fromId = '0-0';
    for (let batch = 0; batch < 50; batch++) {
      await Promise.all(
        Array.from({ length: 20 }, async () => {
          const c = wsClient(stack.url);
          const s = c.subscribe('subscription($p: ID!, $a: String) { stockChanged(productId: $p, after: $a) { id } }', {
            p: productId,
            a: fromId,
          });
          await s.nth(1);
          await c.dispose();
        }),
      );
    }
    await eventually(async () => (eventStreamStats.open === 0 ? true : undefined));
    await eventually(async () => {
      const [, count] = (await redis.pubsub('NUMSUB', channel)) as [string, number];
      return count === baseline ? true : undefined;
    });
    expect(process.listenerCount('SIGTERM') + process.listenerCount('exit')).toBe(listenersBefore);
  }, 120_000);
});
