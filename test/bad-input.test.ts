import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../platform/pagination.js';
import { startStack } from './support/stack.js';
import type { GqlResponse, Stack, TestUser } from './support/stack.js';
import { wsClient } from './support/ws-client.js';

/**
 * Client mistakes are answered as client mistakes: BAD_USER_INPUT (or the 400 that Apollo Server
 * gives a malformed request), never INTERNAL_SERVER_ERROR, never a stack, SQL or driver text.
 * Each case below once reached a subgraph's database (Postgres refuses NUL in text, an impossible
 * timestamp, a malformed uuid) or a gateway code path that threw an uncoded error.
 */

let stack: Stack;
let customer: TestUser;
let admin: TestUser;

beforeAll(async () => {
  stack = await startStack();
  [customer, admin] = await Promise.all([stack.customer(), stack.admin()]);
  await stack.product(); // a category with a product, so Category.products runs
});
afterAll(() => stack?.close());

const NUL = 'ab\u0000cd';
const IMPOSSIBLE_DATE = encodeCursor(['2026-02-31T00:00:00.000Z', randomUUID()]);
const YEAR_ZERO = encodeCursor(['0000-01-01T00:00:00.000Z', randomUUID()]);
const HOUR_24 = encodeCursor(['2026-01-01T24:00:00.000Z', randomUUID()]);

type Who = 'anonymous' | 'customer' | 'admin';
interface Case {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
  who?: Who;
  operationName?: string;
  /** The coded refusal when it is not BAD_USER_INPUT. */
  expect?: 'NOT_FOUND';
}

const idem = () => `idem-${randomUUID()}`;

const cases: Case[] = [
  // Operation selection (Apollo Server: 400 on a request that does not say which operation to run).
  { name: 'an unknown operationName', query: 'query A { categories { id } }', operationName: 'Nope' },
  { name: 'several operations and no operationName', query: 'query A { categories { id } } query B { categories { name } }' },
  // NUL in string arguments, as a variable and as a literal.
  { name: 'NUL in productBySku(sku) (variable)', query: 'query($s: String!) { productBySku(sku: $s) { id } }', variables: { s: NUL } },
  { name: 'NUL in productBySku(sku) (literal)', query: '{ productBySku(sku: "ab\\u0000cd") { id } }' },
  {
    name: 'NUL in products(filter.search)',
    query: 'query($f: ProductFilter) { products(filter: $f) { edges { node { id } } } }',
    variables: { f: { search: `abc${NUL}` } },
  },
  {
    name: 'NUL in signUp(name)',
    query: 'mutation($i: SignUpInput!) { signUp(input: $i) { token } }',
    variables: { i: { email: `${randomUUID()}@example.test`, name: NUL, password: 'correct-horse-battery' } },
  },
  {
    name: 'NUL in signUp(email)',
    query: 'mutation($i: SignUpInput!) { signUp(input: $i) { token } }',
    variables: { i: { email: `a${NUL}@example.test`, name: 'N', password: 'correct-horse-battery' } },
  },
  {
    name: 'NUL in logIn(email)',
    query: 'mutation($i: LogInInput!) { logIn(input: $i) { token } }',
    variables: { i: { email: `ada${NUL}@example.com`, password: 'whatever-password' } },
  },
  {
    name: 'NUL in updateProfile(name)',
    query: 'mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { id } }',
    variables: { i: { name: NUL } },
    who: 'customer',
  },
  { name: 'NUL in userByEmail(email)', query: 'query($e: String!) { userByEmail(email: $e) { id } }', variables: { e: NUL }, who: 'admin' },
  {
    name: 'NUL in placeOrder(idempotencyKey)',
    query: 'mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { id } }',
    variables: { i: { items: [{ productId: randomUUID(), quantity: 1 }], idempotencyKey: `key-${NUL}-0001` } },
    who: 'customer',
  },
  {
    name: 'NUL in payInvoice(cardToken)',
    query: 'mutation($i: PayInvoiceInput!) { payInvoice(input: $i) { id } }',
    variables: { i: { invoiceId: randomUUID(), cardToken: NUL, idempotencyKey: idem() } },
    who: 'customer',
  },
  {
    name: 'NUL in createCategory(name)',
    query: 'mutation($i: CreateCategoryInput!) { createCategory(input: $i) { id } }',
    variables: { i: { slug: `c-${Date.now()}`, name: NUL } },
    who: 'admin',
  },
  { name: 'NUL in product(id)', query: 'query($id: ID!) { product(id: $id) { id } }', variables: { id: NUL } },
  // The same rule for every other string and ID argument a client can send.
  {
    name: 'NUL in createProduct(description)',
    query: 'mutation($i: CreateProductInput!) { createProduct(input: $i) { id } }',
    variables: {
      i: {
        sku: `S-${Date.now()}`,
        name: 'P',
        description: NUL,
        priceCents: 100,
        currency: 'USD',
        categoryId: randomUUID(),
        stock: 1,
        weightGrams: 1,
      },
    },
    who: 'admin',
  },
  {
    name: 'NUL in updateProduct(input.name)',
    query: 'mutation($id: ID!, $i: UpdateProductInput!) { updateProduct(id: $id, input: $i) { id } }',
    variables: { id: randomUUID(), i: { name: NUL } },
    who: 'admin',
  },
  { name: 'NUL in cancelOrder(id)', query: 'mutation($id: ID!) { cancelOrder(id: $id) { id } }', variables: { id: NUL }, who: 'customer' },
  {
    name: 'NUL in refundPayment(idempotencyKey)',
    query: 'mutation($i: RefundPaymentInput!) { refundPayment(input: $i) { id } }',
    variables: { i: { paymentId: randomUUID(), idempotencyKey: `key-${NUL}-0001` } },
    who: 'admin',
  },
  { name: 'NUL in user(id)', query: 'query($id: ID!) { user(id: $id) { id } }', variables: { id: NUL } },
  { name: 'NUL in order(id) (literal)', query: '{ order(id: "\u0000") { id } }', who: 'customer' },
  {
    name: 'NUL in a connection cursor (after)',
    query: 'query($a: String) { products(after: $a) { edges { node { id } } } }',
    variables: { a: NUL },
  },
  // Cursors whose timestamp no calendar has.
  {
    name: 'products(after) with 31 February',
    query: 'query($a: String) { products(after: $a) { edges { node { id } } } }',
    variables: { a: IMPOSSIBLE_DATE },
  },
  {
    name: 'products(after) with year 0',
    query: 'query($a: String) { products(after: $a) { edges { node { id } } } }',
    variables: { a: YEAR_ZERO },
  },
  {
    name: 'products(after) with hour 24',
    query: 'query($a: String) { products(after: $a) { edges { node { id } } } }',
    variables: { a: HOUR_24 },
  },
  {
    name: 'me.orders(after) with 31 February',
    query: 'query($a: String) { me { orders(after: $a) { edges { node { id } } } } }',
    variables: { a: IMPOSSIBLE_DATE },
    who: 'customer',
  },
  {
    name: 'me.invoices(after) with 31 February',
    query: 'query($a: String) { me { invoices(after: $a) { edges { node { id } } } } }',
    variables: { a: IMPOSSIBLE_DATE },
    who: 'customer',
  },
  {
    name: 'users(after) with 31 February',
    query: 'query($a: String) { users(after: $a) { edges { node { id } } } }',
    variables: { a: IMPOSSIBLE_DATE },
    who: 'admin',
  },
  {
    name: 'categories.products(after) with 31 February',
    query: 'query($a: String) { categories { products(after: $a) { edges { node { id } } } } }',
    variables: { a: IMPOSSIBLE_DATE },
  },
  // Malformed ids where an id filters or names what to change.
  { name: 'products(filter.categoryId: "zzz")', query: '{ products(filter: { categoryId: "zzz" }) { edges { node { id } } } }' },
  // An id that names the one thing to act on is NOT_FOUND, as for any id that matches nothing.
  {
    name: 'placeOrder with items.productId "zzz"',
    expect: 'NOT_FOUND',
    query: 'mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { id } }',
    variables: { i: { items: [{ productId: 'zzz', quantity: 1 }], idempotencyKey: idem() } },
    who: 'customer',
  },
  {
    name: 'createProduct with categoryId "zzz"',
    expect: 'NOT_FOUND',
    query: 'mutation($i: CreateProductInput!) { createProduct(input: $i) { id } }',
    variables: {
      i: {
        sku: `S-${Date.now()}`,
        name: 'P',
        description: 'D',
        priceCents: 100,
        currency: 'USD',
        categoryId: 'zzz',
        stock: 1,
        weightGrams: 1,
      },
    },
    who: 'admin',
  },
];

async function send(c: Case): Promise<GqlResponse<unknown>> {
  const token = c.who === 'customer' ? customer.token : c.who === 'admin' ? admin.token : undefined;
  const res = await fetch(stack.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: c.query, variables: c.variables, ...(c.operationName ? { operationName: c.operationName } : {}) }),
  });
  const body = (await res.json()) as { data?: unknown; errors?: GqlResponse<unknown>['errors'] };
  return { status: res.status, headers: res.headers, data: body.data, errors: body.errors };
}

/** BAD_USER_INPUT (HTTP 200, or 400 when refused before execution) or Apollo's own 400 for a malformed request. */
function expectBadInput(res: GqlResponse<unknown>, wanted = 'BAD_USER_INPUT') {
  const codes = (res.errors ?? []).map((e) => e.extensions?.code);
  expect(codes.length, JSON.stringify(res.errors)).toBeGreaterThan(0);
  expect(codes).not.toContain('INTERNAL_SERVER_ERROR');
  const clear =
    codes.every((c) => c === wanted) ||
    (res.status === 400 && codes.every((c) => c === 'BAD_USER_INPUT' || c === 'OPERATION_RESOLUTION_FAILURE' || c === 'BAD_REQUEST'));
  expect(clear, `${res.status} ${JSON.stringify(res.errors)}`).toBe(true);
  expect(JSON.stringify(res.errors)).not.toMatch(/postgres|invalid input syntax|at .*\.ts:|select |insert |127\.0\.0\.1/i);
}

describe('bad input is refused as bad input', () => {
  for (const c of cases) {
    it(c.name, async () => {
      expectBadInput(await send(c), c.expect);
    });
  }

  it('the same refusals over WebSocket (query, mutation and subscription arguments)', async () => {
    const ws = wsClient(stack.url, customer.token);
    try {
      const run = (query: string, variables: Record<string, unknown>) =>
        new Promise<{ errors?: { extensions?: { code?: string } }[] }>((resolve) => {
          const results: unknown[] = [];
          ws.client.subscribe(
            { query, variables },
            {
              next: (r) => results.push(r),
              error: (err) => resolve({ errors: Array.isArray(err) ? err : [err as never] }),
              complete: () => resolve((results[0] ?? {}) as never),
            },
          );
        });
      const nul = await run('query($s: String!) { productBySku(sku: $s) { id } }', { s: NUL });
      expect(nul.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
      const profile = await run('mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { id } }', { i: { name: NUL } });
      expect(profile.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
      const after = await run('subscription($a: String) { orderStatusChanged(after: $a) { id } }', { a: NUL });
      expect(after.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_USER_INPUT']);
    } finally {
      await ws.dispose();
    }
  });

  it('ordinary input still works around the refusals (a NUL-free search, a real cursor)', async () => {
    const page = await send({ name: 'page', query: '{ products(first: 1) { pageInfo { endCursor } } }' });
    const cursor = (page.data as { products: { pageInfo: { endCursor: string | null } } }).products.pageInfo.endCursor;
    const next = await send({
      name: 'next',
      query: 'query($a: String) { products(first: 1, after: $a) { edges { node { id } } } }',
      variables: { a: cursor },
    });
    expect(next.errors).toBeUndefined();
    const search = await send({ name: 'search', query: '{ products(filter: { search: "abc" }) { edges { node { id } } } }' });
    expect(search.errors).toBeUndefined();
  });
});

describe('JSON nesting bombs', () => {
  const DEPTH = 100_000;
  const bombs: Record<string, string> = {
    'a body of 100,000 [': '['.repeat(DEPTH),
    // Before: 500 INTERNAL_SERVER_ERROR (graphql-js's recursive input coercion overflowed the stack).
    'an input-object variable 100,000 deep': `{"query":"query($v: ProductFilter) { products(filter: $v) { edges { node { id } } } }","variables":{"v":${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}}}`,
    'a closed array 100,000 deep': '['.repeat(DEPTH) + ']'.repeat(DEPTH),
    'variables 100,000 deep': `{"query":"query($v: String) { productBySku(sku: $v) { id } }","variables":{"v":${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}}}`,
    'extensions 100,000 deep': `{"query":"{ categories { id } }","extensions":{"x":${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}}}`,
  };
  for (const [name, body] of Object.entries(bombs)) {
    it(`${name} is 400 BAD_REQUEST, never INTERNAL_SERVER_ERROR`, async () => {
      const res = await fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const payload = (await res.json()) as { errors?: { extensions?: { code?: string } }[] };
      expect({ status: res.status, codes: payload.errors?.map((e) => e.extensions?.code) }).toEqual({
        status: 400,
        codes: ['BAD_REQUEST'],
      });
    });
  }

  it('a body nested as deep as the limit (64) still runs; brackets inside strings do not count', async () => {
    const search = `${'['.repeat(90)}abc`;
    const res = await send({
      name: 'deep strings',
      query: 'query($f: ProductFilter) { products(filter: $f) { edges { node { id } } } }',
      variables: { f: { search }, unused: JSON.parse('['.repeat(61) + ']'.repeat(61)) as unknown },
    });
    expect(res.status).toBe(200);
    expect(res.errors).toBeUndefined();
  });
});
