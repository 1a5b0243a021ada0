import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventStreamStats } from '../gateway/subscriptions/event-stream.js';
import { startExtraGateway } from '../scripts/local-supergraph.js';
import { freePort } from '../scripts/free-port.js';
import { ACCOUNT_PAGE } from './support/operations.js';
import { print } from 'graphql';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';
import { wsClient } from './support/ws-client.js';
import type { TestWsClient } from './support/ws-client.js';

/** Operation limits with the gateway's default settings: the contract's queries pass, abuse is refused with its code. */

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

async function post(query: string, variables: Record<string, unknown> = {}, opts: { token?: string; url?: string } = {}): Promise<Res> {
  const res = await fetch(opts.url ?? stack.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as Res['body'] };
}
const code = (r: Res) => r.body.errors?.[0]?.extensions?.code;

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

/** products → category → products … nested `levels` times: 3 levels deeper per hop. */
const deep = (levels: number) => `{ ${'products { edges { node { category { '.repeat(levels)}name${' } } } }'.repeat(levels)} }`;
const FAN_OUT = 'products(first: $n) { edges { node { category { products(first: $n) { edges { node { name } } } } } } }';

describe('operation limits (graphql-armor, default settings)', () => {
  it("the contract's AccountPage passes at its largest page and reports its static cost", async () => {
    const res = await post(print(ACCOUNT_PAGE), { n: 100 }, { token: customer.token });
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.me.orders.edges).toHaveLength(2);
    // No budget, no cost report: extensions.cost is for partners (test/rate-limits.test.ts).
    expect(res.body.extensions?.cost).toBeUndefined();
  });

  it('a depth bomb is refused before anything runs: 400 GRAPHQL_VALIDATION_FAILED naming the limit', async () => {
    const res = await post(deep(4));
    expect(res.status).toBe(400);
    expect(code(res)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.body.errors![0]!.message).toMatch(/depth limit of 10 exceeded, found 17/);
    expect(res.body.data).toBeUndefined();
  });

  it('an alias bomb is refused', async () => {
    const aliases = Array.from({ length: 100 }, (_, i) => `a${i}: categories { id }`).join(' ');
    const res = await post(`{ ${aliases} }`);
    expect(res.status).toBe(400);
    expect(code(res)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.body.errors![0]!.message).toMatch(/Aliases limit of 15 exceeded, found 100/);
  });

  it('a directive flood is refused', async () => {
    const fields = Array.from({ length: 30 }, () => 'id @include(if: true)').join(' ');
    const res = await post(`{ categories { ${fields} } }`);
    expect(res.status).toBe(400);
    expect(res.body.errors!.some((e) => e.message.includes('Directives limit of 20 exceeded'))).toBe(true);
  });

  it('a 10,000-token document stops parsing at the limit: 400 GRAPHQL_PARSE_FAILED', async () => {
    const res = await post(`{ ${'__typename '.repeat(10_000)}}`);
    expect(res.status).toBe(400);
    expect(code(res)).toBe('GRAPHQL_PARSE_FAILED');
    expect(res.body.errors![0]!.message).toMatch(/1000 tokens/);
  });

  it("a fan-out is refused by armor's cost with literal page sizes, and by the static cost ceiling with variables: one code, COST_ESTIMATED_TOO_EXPENSIVE", async () => {
    const literal = await post(`{ ${FAN_OUT.replaceAll('$n', '100')} }`);
    expect(literal.status).toBe(400);
    expect(literal.body.errors).toHaveLength(1);
    expect(code(literal)).toBe('COST_ESTIMATED_TOO_EXPENSIVE');
    expect(literal.body.errors![0]!.message).toBe(
      "The operation's estimated cost 653422 is over the limit of 50000; ask for smaller pages.",
    );
    expect(literal.body.errors![0]!.extensions).toMatchObject({ cost: 653422, maxCost: 50000 });
    // Armor cannot see `first: $n`; the static cost applies the variables.
    const viaVariables = await post(`query($n: Int) { ${FAN_OUT} }`, { n: 100 });
    expect(viaVariables.status).toBe(400);
    expect(code(viaVariables)).toBe('COST_ESTIMATED_TOO_EXPENSIVE');
    expect(viaVariables.body.errors![0]!.message).toBe(
      "The operation's estimated cost 20405 is over the limit of 10000; ask for smaller pages.",
    );
    expect(viaVariables.body.errors![0]!.extensions).toMatchObject({ cost: 20405, maxCost: 10000 });
    // The same query with small pages is fine.
    const small = await post(`query($n: Int) { ${FAN_OUT} }`, { n: 3 });
    expect(small.body.errors).toBeUndefined();
    expect(small.status).toBe(200);
  });

  it('keeps answering normal traffic while being flooded with refused operations', async () => {
    const abuse = Array.from({ length: 40 }, (_, i) => (i % 2 ? post(deep(6)) : post(`{ ${'__typename '.repeat(20_000)}}`)));
    const normal = Array.from({ length: 10 }, () => post('{ categories { id name } }'));
    const [refused, served] = await Promise.all([Promise.all(abuse), Promise.all(normal)]);
    expect(refused.every((r) => r.status === 400)).toBe(true);
    expect(served.every((r) => r.status === 200 && !r.body.errors && Array.isArray(r.body.data.categories))).toBe(true);
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

  it('a subscription over the limits is refused when subscribed, with the HTTP code', async () => {
    const tooDeep = 'category { products { edges { node { category { products { edges { node { category { name } } } } } } } } }';
    const sub = connect().subscribe(`subscription($p: ID!) { stockChanged(productId: $p) { ${tooDeep} } }`, { p: productId });
    const errors = (await sub.ended) as { message: string; extensions?: { code?: string } }[];
    expect(errors[0]!.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(errors[0]!.message).toMatch(/depth limit/);
  });
});

describe('cost over a WebSocket', () => {
  it("armor's cost refusal keeps its code over the socket too", async () => {
    const ws = wsClient(stack.url);
    closers.push(() => ws.dispose());
    const sub = ws.subscribe(`query { ${FAN_OUT.replaceAll('$n', '100')} }`);
    const errors = (await sub.ended) as { message: string; extensions?: Record<string, unknown> }[];
    expect(errors[0]!.extensions).toEqual({ code: 'COST_ESTIMATED_TOO_EXPENSIVE', cost: 653422, maxCost: 50000 });
  });
});

describe('in production', () => {
  it('introspection is refused and field suggestions are hidden; both stay available in development', async () => {
    const production = await startExtraGateway(
      { ...stack.topology, extra: { ...stack.topology.extra, gateway: { ...stack.topology.extra?.gateway, NODE_ENV: 'production' } } },
      await freePort(),
    );
    closers.push(() => production.close());
    const typo = '{ categries { id } }';
    const hidden = await post(typo, {}, { url: production.url });
    expect(code(hidden)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(hidden.body.errors![0]!.message).not.toMatch(/Did you mean|categories/);
    expect((await post(typo)).body.errors![0]!.message).toMatch(/Did you mean "categories"/);

    const introspection = await post('{ __schema { types { name } } }', {}, { url: production.url });
    expect(introspection.status).toBe(400);
    expect(introspection.body.errors![0]!.message).toMatch(/introspection/i);
    expect((await post('{ __schema { queryType { name } } }')).body.data.__schema.queryType.name).toBe('Query');
  });
});
