import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster } from './support/cluster.js';
import type { Cluster } from './support/cluster.js';
import { eventually } from './support/stack.js';
import type { TestUser } from './support/stack.js';
import { apolloHttpClient } from './support/http-subscriptions.js';

/**
 * The production shape (each service its own process, two gateways): an Apollo Client streaming a
 * subscription over HTTP multipart from a gateway that is killed with SIGKILL resumes on the other
 * gateway with `after` and receives exactly the orders placed meanwhile, as the orders database
 * has them, in order, once each.
 */
let cluster: Cluster;
let customer: TestUser;
let productId: string;
const clients: { stop(): void }[] = [];

beforeAll(async () => {
  cluster = await startCluster({ instances: { gateway: 2 }, logLevel: 'warn' });
  customer = await cluster.customer('Resuming Rider');
  productId = (await cluster.product({ stock: 1_000, priceCents: 700 })).id;
}, 400_000);
afterAll(async () => {
  clients.forEach((c) => c.stop());
  await cluster?.close();
});

const gatewayUrl = (i: number) => `${cluster.baseUrl('gateway', i)}/graphql`;

/** Subscriptions open in gateway i's process, from its own /metrics. */
async function openOn(i: number): Promise<number> {
  const text = await (await fetch(`${cluster.metricsUrl('gateway', i)}/metrics`)).text();
  return Number(/^graphql_subscriptions_open(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
}

let seq = 0;
async function placeOrderVia(i: number): Promise<string> {
  const res = await fetch(gatewayUrl(i), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${customer.token}` },
    body: JSON.stringify({
      query: 'mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }',
      variables: { input: { items: [{ productId, quantity: 1 }], idempotencyKey: `http-fault-${Date.now()}-${seq++}` } },
    }),
  });
  const body = (await res.json()) as { data?: { placeOrder?: { id: string } }; errors?: unknown };
  if (!body.data?.placeOrder) throw new Error(JSON.stringify(body.errors));
  return body.data.placeOrder.id;
}

const QUERY = 'subscription($after: String) { orderStatusChanged(after: $after) { id status } }';

describe('HTTP subscriptions when a gateway dies', () => {
  it('resume on another gateway with after: every order placed meanwhile, in order, once', async () => {
    const first = apolloHttpClient(gatewayUrl(0), customer.token);
    clients.push(first);
    const sub = first.subscribe(QUERY);
    await eventually(async () => ((await openOn(0)) >= 1 ? true : undefined), { timeoutMs: 30_000 });
    const before = await placeOrderVia(1);
    const seen = await sub.nth(1, 30_000);
    expect(seen.data.orderStatusChanged.id).toBe(before);

    await cluster.kill('gateway', 0);
    // The client learns the stream is gone (a network error, not a silent stall).
    // Apollo Client 4 delivers a network error as a last result with `error`, then completes.
    const endedWith = await sub.ended;
    expect(endedWith ?? sub.results.at(-1)?.error).toBeTruthy();
    expect(sub.results.slice(1).every((r) => r.data === undefined)).toBe(true);

    const missed = [await placeOrderVia(1), await placeOrderVia(1), await placeOrderVia(1)];
    const second = apolloHttpClient(gatewayUrl(1), customer.token);
    clients.push(second);
    const resumed = second.subscribe(QUERY, { after: seen.extensions!.eventId });
    await resumed.nth(3, 30_000);
    const live = await placeOrderVia(1);
    await resumed.nth(4, 30_000);
    const delivered = resumed.results.map((r) => r.data.orderStatusChanged.id);
    expect(delivered).toEqual([...missed, live]);

    // The database's own account of this customer's orders after the first one, oldest first.
    const rows = await cluster.sql.orders<{ id: string }[]>`
      select id from orders where customer_id = ${customer.id}
        and number > (select number from orders where id = ${before}) order by number`;
    expect(rows.map((r) => r.id)).toEqual(delivered);
    expect(resumed.results.every((r) => r.data.orderStatusChanged.status === 'PENDING_PAYMENT')).toBe(true);
  });
});
