import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventStreamStats } from '../gateway/subscriptions/event-stream.js';
import { ACCOUNT_PAGE } from './support/operations.js';
import { print } from 'graphql';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';
import { wsClient } from './support/ws-client.js';
import type { TestWsClient } from './support/ws-client.js';

/**
 * Operation limits with the gateway's default settings, where they need the real stack: the contract's
 * queries over real orders pass, and so does a federated subscription payload. The refusals (depth,
 * aliases, directives, tokens, cost, production introspection) need no database: test/fast/limits.test.ts.
 */

let stack: Stack;
let customer: TestUser;
let productId: string;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  stack = await startStack();
  customer = await stack.customer('Limits');
  productId = (await stack.product({ stock: 1000, priceCents: 1500 })).id;
  for (let i = 0; i < 2; i++) await placeOrder();
});
afterAll(async () => {
  await Promise.all(closers.map((c) => c()));
  await stack?.close();
});

interface Res {
  status: number;
  body: { data?: any; errors?: { message: string; extensions?: Record<string, any> }[]; extensions?: Record<string, any> };
}

async function post(query: string, variables: Record<string, unknown> = {}, opts: { token?: string } = {}): Promise<Res> {
  const res = await fetch(stack.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as Res['body'] };
}

let keySeq = 0;
async function placeOrder() {
  const res = await stack.gql(
    `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
    { input: { items: [{ productId, quantity: 1 }], idempotencyKey: `limits-${keySeq++}-${Date.now()}` } },
    { token: customer.token },
  );
  if (!res.data?.placeOrder) throw new Error(JSON.stringify(res.errors));
  return res.data.placeOrder.id as string;
}

describe('operation limits (graphql-armor, default settings)', () => {
  it("the contract's AccountPage passes at its largest page and reports its static cost", async () => {
    const res = await post(print(ACCOUNT_PAGE), { n: 100 }, { token: customer.token });
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.me.orders.edges).toHaveLength(2);
    // No budget, no cost report: extensions.cost is for partners (test/rate-limits.test.ts).
    expect(res.body.extensions?.cost).toBeUndefined();
  });
});

describe('limits on subscriptions', () => {
  const connect = (token?: string): TestWsClient => {
    const c = wsClient(stack.url, token);
    closers.push(() => c.dispose());
    return c;
  };

  it('a federated subscription payload passes the default limits', async () => {
    const base = eventStreamStats.open;
    const sub = connect(customer.token).subscribe(`subscription { orderStatusChanged { id status total { amountCents }
      customer { name } items { quantity product { name price { amountCents } category { name } } } invoice { status payments { status } } } }`);
    await eventually(async () => (eventStreamStats.open > base ? true : undefined));
    await placeOrder();
    const first = await sub.nth(1);
    expect(first.errors).toBeUndefined();
    expect(first.data.orderStatusChanged.customer).toEqual({ name: 'Limits' });
  });
});
