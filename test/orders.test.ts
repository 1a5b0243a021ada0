import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, eventually, startStack } from './support/stack.js';
import type { GqlResponse, Stack, TestUser, UntypedResponse } from './support/stack.js';

let stack: Stack;
let admin: TestUser;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  stack = await startStack();
  [admin, alice, bob] = await Promise.all([stack.admin(), stack.customer('Alice'), stack.customer('Bob')]);
});
afterAll(() => stack?.close());

const ORDER = `id number status createdAt updatedAt total { amountCents currency } customer { id name }
  items { product { id } quantity unitPrice { amountCents currency } lineTotal { amountCents currency } }`;
const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { ${ORDER} } }`;
const GET = `query($id: ID!) { order(id: $id) { ${ORDER} } }`;
const CANCEL = `mutation($id: ID!) { cancelOrder(id: $id) { id status updatedAt } }`;

interface Line {
  productId: string;
  quantity: number;
}
const newKey = () => `key-${randomUUID()}`;
const place = (user: TestUser | null, items: Line[], idempotencyKey = newKey()) =>
  stack.gql(PLACE, { input: { items, idempotencyKey } }, { token: user?.token });
const stockOf = async (productId: string): Promise<number> =>
  (await stack.sql.catalog`select stock from products where id = ${productId}`)[0]!.stock;
const orderCount = async (customerId: string): Promise<number> =>
  Number((await stack.sql.orders`select count(*)::int as n from orders where customer_id = ${customerId}`)[0]!.n);

/** Places an order that must succeed and returns it. */
async function placed(user: TestUser, items: Line[]) {
  const res = await place(user, items);
  expect(res.errors).toBeUndefined();
  return res.data.placeOrder;
}

describe('orders: placeOrder', () => {
  it('prices lines from the catalog, computes totals on the server, takes stock, numbers orders increasingly', async () => {
    const kettle = await stack.product({ priceCents: 1250, stock: 10 });
    const mug = await stack.product({ priceCents: 300, stock: 5 });
    const first = await placed(alice, [
      { productId: kettle.id, quantity: 3 },
      { productId: mug.id, quantity: 2 },
    ]);
    expect(first).toMatchObject({
      status: 'PENDING_PAYMENT',
      total: { amountCents: 4350, currency: 'USD' },
      customer: { id: alice.id, name: 'Alice' },
      items: [
        {
          product: { id: kettle.id },
          quantity: 3,
          unitPrice: { amountCents: 1250, currency: 'USD' },
          lineTotal: { amountCents: 3750, currency: 'USD' },
        },
        {
          product: { id: mug.id },
          quantity: 2,
          unitPrice: { amountCents: 300, currency: 'USD' },
          lineTotal: { amountCents: 600, currency: 'USD' },
        },
      ],
    });
    expect(first.number).toBeGreaterThanOrEqual(100001);
    expect(first.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(await stockOf(kettle.id)).toBe(7);
    expect(await stockOf(mug.id)).toBe(3);

    // A price change applies to new orders only; the first keeps the price it was placed at.
    const update = await stack.gql(
      `mutation($id: ID!) { updateProduct(id: $id, input: { priceCents: 999 }) { id } }`,
      { id: mug.id },
      { token: admin.token },
    );
    expect(update.errors).toBeUndefined();
    const second = await placed(alice, [{ productId: mug.id, quantity: 1 }]);
    expect(second.number).toBeGreaterThan(first.number);
    expect(second.total).toEqual({ amountCents: 999, currency: 'USD' });
    const again = await stack.gql(GET, { id: first.id }, { token: alice.token });
    expect(again.data.order.items[1].unitPrice.amountCents).toBe(300);
  });

  it('issues an invoice for the order total', async () => {
    const product = await stack.product({ priceCents: 2000 });
    const order = await placed(alice, [{ productId: product.id, quantity: 2 }]);
    // Billing issues the invoice from the OrderPlaced event, after placeOrder has answered: polled, as clients poll it.
    const invoice = await eventually(async () => {
      const res = await stack.gql(
        `query($id: ID!) { order(id: $id) { invoice { status amount { amountCents currency } } } }`,
        { id: order.id },
        { token: alice.token },
      );
      expect(res.errors).toBeUndefined();
      return res.data.order.invoice ?? undefined;
    });
    expect(invoice).toEqual({ status: 'OPEN', amount: { amountCents: 4000, currency: 'USD' } });
  });

  it('never oversells: 20 concurrent orders for the last 5 units sell exactly 5', async () => {
    const product = await stack.product({ stock: 5 });
    const buyers = await Promise.all(Array.from({ length: 4 }, (_, i) => stack.customer(`Buyer ${i}`)));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => place(buyers[i % buyers.length]!, [{ productId: product.id, quantity: 1 }])),
    );
    const ok = results.filter((r) => !r.errors);
    const refused = results.filter((r) => r.errors);
    expect(ok).toHaveLength(5);
    expect(refused).toHaveLength(15);
    for (const r of refused) {
      expect(codes(r)).toEqual(['INSUFFICIENT_STOCK']);
      expect(r.errors![0]!.extensions!.productId).toBe(product.id);
    }
    expect(await stockOf(product.id)).toBe(0);
    const [sold] = await stack.sql.orders`select count(*)::int as n from order_items where product_id = ${product.id}`;
    expect(sold!.n).toBe(5);
    const [reserved] = await stack.sql
      .catalog`select coalesce(sum(quantity), 0)::int as held from stock_reservations where product_id = ${product.id} and released_at is null`;
    expect(reserved!.held).toBe(5);
  });

  it('rejects the mix of currencies in one order and gives the reserved stock back', async () => {
    const usd = await stack.product({ currency: 'USD', stock: 4 });
    const eur = await stack.product({ currency: 'EUR', stock: 4 });
    const res = await place(bob, [
      { productId: usd.id, quantity: 1 },
      { productId: eur.id, quantity: 1 },
    ]);
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.errors![0]!.message).toMatch(/currency/);
    expect(await stockOf(usd.id)).toBe(4);
    expect(await stockOf(eur.id)).toBe(4);
  });
});

describe('orders: placeOrder idempotency', () => {
  it('a retry with the same key and input returns the first order without placing another', async () => {
    const customer = await stack.customer();
    const product = await stack.product({ stock: 10 });
    const key = newKey();
    const items = [{ productId: product.id, quantity: 2 }];
    const a = await place(customer, items, key);
    const b = await place(customer, items, key);
    expect(a.errors).toBeUndefined();
    expect(b.errors).toBeUndefined();
    expect(b.data.placeOrder.id).toBe(a.data.placeOrder.id);
    expect(await orderCount(customer.id)).toBe(1);
    expect(await stockOf(product.id)).toBe(8);

    const reused = await place(customer, [{ productId: product.id, quantity: 3 }], key);
    expect(codes(reused)).toEqual(['IDEMPOTENCY_KEY_REUSED']);
    // Keys are scoped to the caller: another customer's identical key is a different request.
    const other = await place(bob, items, key);
    expect(other.errors).toBeUndefined();
    expect(other.data.placeOrder.id).not.toBe(a.data.placeOrder.id);
  });

  it('replays a first error even after the cause went away', async () => {
    const customer = await stack.customer();
    const product = await stack.product({ stock: 1 });
    const key = newKey();
    const items = [{ productId: product.id, quantity: 2 }];
    expect(codes(await place(customer, items, key))).toEqual(['INSUFFICIENT_STOCK']);
    await stack.gql(`mutation($id: ID!) { adjustStock(productId: $id, delta: 10) { id } }`, { id: product.id }, { token: admin.token });
    const replay = await place(customer, items, key);
    expect(codes(replay)).toEqual(['INSUFFICIENT_STOCK']);
    expect(replay.errors![0]!.extensions!.productId).toBe(product.id);
    expect(await orderCount(customer.id)).toBe(0);
    expect((await place(customer, items)).errors).toBeUndefined();
  });

  it('five concurrent retries of one key place one order', async () => {
    const customer = await stack.customer();
    const product = await stack.product({ stock: 10 });
    const key = newKey();
    const results = await Promise.all(Array.from({ length: 5 }, () => place(customer, [{ productId: product.id, quantity: 1 }], key)));
    for (const r of results) expect(r.errors).toBeUndefined();
    expect(new Set(results.map((r) => r.data.placeOrder.id)).size).toBe(1);
    expect(await orderCount(customer.id)).toBe(1);
    expect(await stockOf(product.id)).toBe(9);
  });
});

describe('orders: placeOrder validation', () => {
  it('rejects bad input with BAD_USER_INPUT before touching stock', async () => {
    const product = await stack.product({ stock: 50 });
    const line = (quantity = 1) => ({ productId: product.id, quantity });
    const manyLines = Array.from({ length: 51 }, () => ({ productId: randomUUID(), quantity: 1 }));
    const cases: [string, Line[], string?][] = [
      ['no lines', []],
      ['51 lines', manyLines],
      ['quantity 0', [line(0)]],
      ['quantity 101', [line(101)]],
      ['key too short', [line()], '1234567'],
      ['key too long', [line()], 'k'.repeat(256)],
    ];
    for (const [name, items, key] of cases) {
      const res = await place(alice, items, key);
      expect(codes(res), name).toEqual(['BAD_USER_INPUT']);
      expect(res.errors![0]!.extensions!.field, name).toMatch(/^input\./);
    }
    const duplicate = await place(alice, [line(1), { productId: randomUUID(), quantity: 1 }, line(2)]);
    expect(codes(duplicate)).toEqual(['BAD_USER_INPUT']);
    expect(duplicate.errors![0]!.message).toContain(product.id);
    expect(duplicate.errors![0]!.extensions).toMatchObject({ field: 'input.items.2.productId', productId: product.id });
    expect(await stockOf(product.id)).toBe(50);
  });

  it('unknown and malformed product ids are NOT_FOUND naming the product, and take no stock', async () => {
    const product = await stack.product({ stock: 5 });
    for (const missing of [randomUUID(), 'not-a-product-id']) {
      const res = await place(alice, [
        { productId: product.id, quantity: 1 },
        { productId: missing, quantity: 1 },
      ]);
      expect(codes(res), missing).toEqual(['NOT_FOUND']);
      expect(res.errors![0]!.extensions!.productId).toBe(missing);
    }
    expect(await stockOf(product.id)).toBe(5);
  });

  it('anonymous callers cannot place orders', async () => {
    const product = await stack.product();
    expect(codes(await place(null, [{ productId: product.id, quantity: 1 }]))).toEqual(['UNAUTHENTICATED']);
  });
});

describe('orders: reading', () => {
  it('the owner and admins see an order; anyone else gets the same NOT_FOUND as for an unknown id', async () => {
    const product = await stack.product();
    const order = await placed(alice, [{ productId: product.id, quantity: 1 }]);
    const own = await stack.gql(GET, { id: order.id }, { token: alice.token });
    expect(own.errors).toBeUndefined();
    expect(own.data.order).toEqual(order);
    const asAdmin = await stack.gql(GET, { id: order.id }, { token: admin.token });
    expect(asAdmin.data.order.id).toBe(order.id);

    const unknownId = randomUUID();
    const foreign = await stack.gql(GET, { id: order.id }, { token: bob.token });
    const unknown = await stack.gql(GET, { id: unknownId }, { token: bob.token });
    expect(foreign.data).toEqual({ order: null });
    expect(unknown.data).toEqual({ order: null });
    expect(codes(foreign)).toEqual(['NOT_FOUND']);
    expect(codes(unknown)).toEqual(['NOT_FOUND']);
    const shape = (res: GqlResponse<unknown>, id: string) =>
      JSON.stringify({ message: res.errors![0]!.message, extensions: res.errors![0]!.extensions }).replaceAll(id, '<id>');
    expect(shape(foreign, order.id)).toBe(shape(unknown, unknownId));

    expect(codes(await stack.gql(GET, { id: unknownId }, { token: admin.token }))).toEqual(['NOT_FOUND']);
    expect(codes(await stack.gql(GET, { id: 'nope' }, { token: admin.token }))).toEqual(['NOT_FOUND']);
    const anonymous = await stack.gql(GET, { id: order.id });
    expect(anonymous.data).toEqual({ order: null });
    expect(codes(anonymous)).toEqual(['UNAUTHENTICATED']);
  });

  it('User.orders pages newest first with keyset cursors and filters by status', async () => {
    const customer = await stack.customer('Pager');
    const product = await stack.product({ stock: 100 });
    const made: { id: string; number: number }[] = [];
    for (let i = 0; i < 5; i++) made.push(await placed(customer, [{ productId: product.id, quantity: 1 + i }]));
    const page = `query($first: Int, $after: String, $status: OrderStatus) { me { orders(first: $first, after: $after, status: $status) {
      edges { cursor node { id number status } } pageInfo { hasNextPage endCursor } } } }`;
    const seen: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 5; i++) {
      const res: UntypedResponse = await stack.gql(page, { first: 2, after }, { token: customer.token });
      expect(res.errors).toBeUndefined();
      const conn = res.data.me.orders;
      seen.push(...conn.edges.map((e: any) => e.node.id));
      expect(conn.pageInfo.endCursor).toBe(conn.edges.at(-1)?.cursor ?? null);
      if (!conn.pageInfo.hasNextPage) break;
      after = conn.pageInfo.endCursor;
    }
    expect(seen).toEqual(made.map((o) => o.id).reverse());

    expect((await stack.gql(CANCEL, { id: made[1]!.id }, { token: customer.token })).errors).toBeUndefined();
    const cancelled = await stack.gql(page, { status: 'CANCELLED' }, { token: customer.token });
    expect(cancelled.data.me.orders.edges.map((e: any) => e.node.id)).toEqual([made[1]!.id]);
    const pending = await stack.gql(page, { status: 'PENDING_PAYMENT', first: 3 }, { token: customer.token });
    expect(pending.data.me.orders.edges.map((e: any) => e.node.id)).toEqual([made[4]!.id, made[3]!.id, made[2]!.id]);
    expect(pending.data.me.orders.pageInfo.hasNextPage).toBe(true);
    const none = await stack.gql(page, { status: 'DELIVERED' }, { token: customer.token });
    expect(none.data.me.orders).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });

    for (const variables of [{ first: 0 }, { first: 101 }, { after: 'not-a-cursor' }]) {
      expect(codes(await stack.gql(page, variables, { token: customer.token })), JSON.stringify(variables)).toEqual(['BAD_USER_INPUT']);
    }
    expect((await stack.gql(page, { first: 100 }, { token: customer.token })).data.me.orders.edges).toHaveLength(5);
  });

  it('User.orders is for the user themself or an admin', async () => {
    const query = `query($id: ID!) { user(id: $id) { id orders { edges { node { id } } } } }`;
    await placed(alice, [{ productId: (await stack.product()).id, quantity: 1 }]);
    expect(codes(await stack.gql(query, { id: alice.id }, { token: bob.token }))).toEqual(['FORBIDDEN']);
    expect(codes(await stack.gql(query, { id: alice.id }))).toEqual(['UNAUTHENTICATED']);
    const asAdmin = await stack.gql(query, { id: alice.id }, { token: admin.token });
    expect(asAdmin.errors).toBeUndefined();
    expect(asAdmin.data.user.orders.edges.length).toBeGreaterThan(0);
  });
});
