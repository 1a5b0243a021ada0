/** Orders after placing: cancelling, paying (through billing), shipping, delivering; shipping estimates. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

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
const SET_STATUS = `mutation($id: ID!, $status: OrderStatus!) { setOrderStatus(id: $id, status: $status) { id status } }`;

interface Line {
  productId: string;
  quantity: number;
}
const newKey = () => `key-${randomUUID()}`;
const place = (user: TestUser | null, items: Line[], idempotencyKey = newKey()) =>
  stack.gql(PLACE, { input: { items, idempotencyKey } }, { token: user?.token });
const stockOf = async (productId: string): Promise<number> =>
  (await stack.sql.catalog`select stock from products where id = ${productId}`)[0]!.stock;

const stockBecomes = (productId: string, stock: number) =>
  eventually(async () => ((await stockOf(productId)) === stock ? true : undefined));

/** Places an order that must succeed and returns it. */
async function placed(user: TestUser, items: Line[]) {
  const res = await place(user, items);
  expect(res.errors).toBeUndefined();
  return res.data.placeOrder;
}
describe('orders: cancelOrder', () => {
  it('cancels an unpaid order, returns its stock, voids its invoice; only once', async () => {
    const product = await stack.product({ stock: 6 });
    const order = await placed(alice, [{ productId: product.id, quantity: 4 }]);
    expect(await stockOf(product.id)).toBe(2);
    const res = await stack.gql(CANCEL, { id: order.id }, { token: alice.token });
    expect(res.errors).toBeUndefined();
    expect(res.data.cancelOrder.status).toBe('CANCELLED');
    expect(new Date(res.data.cancelOrder.updatedAt).getTime()).toBeGreaterThanOrEqual(new Date(order.updatedAt).getTime());
    // Catalog and billing react to OrderCancelled: the stock comes back and the invoice is voided.
    await stockBecomes(product.id, 6);
    const invoice = await eventually(async () => {
      const r = await stack.gql(
        `query($id: ID!) { order(id: $id) { status invoice { status } } }`,
        { id: order.id },
        { token: alice.token },
      );
      return r.data.order.invoice?.status === 'VOID' ? r : undefined;
    });
    expect(invoice.data.order).toEqual({ status: 'CANCELLED', invoice: { status: 'VOID' } });

    const twice = await stack.gql(CANCEL, { id: order.id }, { token: alice.token });
    expect(codes(twice)).toEqual(['INVALID_STATE']);
    expect(await stockOf(product.id)).toBe(6);
  });

  it('other customers get NOT_FOUND, anonymous UNAUTHENTICATED; an admin may cancel', async () => {
    const product = await stack.product({ stock: 3 });
    const order = await placed(alice, [{ productId: product.id, quantity: 1 }]);
    expect(codes(await stack.gql(CANCEL, { id: order.id }, { token: bob.token }))).toEqual(['NOT_FOUND']);
    expect(codes(await stack.gql(CANCEL, { id: randomUUID() }, { token: bob.token }))).toEqual(['NOT_FOUND']);
    expect(codes(await stack.gql(CANCEL, { id: order.id }))).toEqual(['UNAUTHENTICATED']);
    expect(await stockOf(product.id)).toBe(2);
    const byAdmin = await stack.gql(CANCEL, { id: order.id }, { token: admin.token });
    expect(byAdmin.errors).toBeUndefined();
    expect(byAdmin.data.cancelOrder.status).toBe('CANCELLED');
    await stockBecomes(product.id, 3);
  });
});

/** Pays an order's invoice with the test card and waits until the order is PAID. */
async function pay(user: TestUser, orderId: string) {
  // Billing issues the invoice when it consumes OrderPlaced (normally within milliseconds).
  const invoiceId = await eventually(async () => {
    const { data } = await stack.gql(`query($id: ID!) { order(id: $id) { invoice { id } } }`, { id: orderId }, { token: user.token });
    return data.order.invoice?.id as string | undefined;
  });
  const res = await stack.gql(
    `mutation($input: PayInvoiceInput!) { payInvoice(input: $input) { status } }`,
    { input: { invoiceId, cardToken: 'tok_visa', idempotencyKey: newKey() } },
    { token: user.token },
  );
  expect(res.errors).toBeUndefined();
  await eventually(async () => {
    const r = await stack.gql(`query($id: ID!) { order(id: $id) { status } }`, { id: orderId }, { token: user.token });
    return r.data?.order?.status === 'PAID' ? true : undefined;
  });
}

describe('orders: setOrderStatus', () => {
  it('is for admins only and moves PAID -> SHIPPED -> DELIVERED, nothing else', async () => {
    const product = await stack.product();
    const order = await placed(alice, [{ productId: product.id, quantity: 1 }]);
    expect(codes(await stack.gql(SET_STATUS, { id: order.id, status: 'SHIPPED' }, { token: alice.token }))).toEqual(['FORBIDDEN']);
    expect(codes(await stack.gql(SET_STATUS, { id: order.id, status: 'SHIPPED' }))).toEqual(['UNAUTHENTICATED']);
    expect(codes(await stack.gql(SET_STATUS, { id: randomUUID(), status: 'SHIPPED' }, { token: admin.token }))).toEqual(['NOT_FOUND']);
    expect(codes(await stack.gql(SET_STATUS, { id: order.id, status: 'SHIPPED' }, { token: admin.token }))).toEqual(['INVALID_STATE']);
    expect(codes(await stack.gql(SET_STATUS, { id: order.id, status: 'PAID' }, { token: admin.token }))).toEqual(['INVALID_STATE']);

    await pay(alice, order.id);
    const cancelPaid = await stack.gql(CANCEL, { id: order.id }, { token: alice.token });
    expect(codes(cancelPaid)).toEqual(['INVALID_STATE']);
    expect(cancelPaid.errors![0]!.message).toMatch(/refund/);
    expect(codes(await stack.gql(SET_STATUS, { id: order.id, status: 'DELIVERED' }, { token: admin.token }))).toEqual(['INVALID_STATE']);
    expect(codes(await stack.gql(SET_STATUS, { id: order.id, status: 'CANCELLED' }, { token: admin.token }))).toEqual(['INVALID_STATE']);

    // Concurrent moves from the same status: exactly one wins.
    const racers = await Promise.all(
      Array.from({ length: 4 }, () => stack.gql(SET_STATUS, { id: order.id, status: 'SHIPPED' }, { token: admin.token })),
    );
    expect(racers.filter((r) => !r.errors).map((r) => r.data.setOrderStatus.status)).toEqual(['SHIPPED']);
    expect(racers.filter((r) => r.errors).map((r) => codes(r)[0])).toEqual(['INVALID_STATE', 'INVALID_STATE', 'INVALID_STATE']);

    const delivered = await stack.gql(SET_STATUS, { id: order.id, status: 'DELIVERED' }, { token: admin.token });
    expect(delivered.data.setOrderStatus).toEqual({ id: order.id, status: 'DELIVERED' });
    for (const status of ['SHIPPED', 'PAID', 'PENDING_PAYMENT', 'CANCELLED', 'DELIVERED']) {
      expect(codes(await stack.gql(SET_STATUS, { id: order.id, status }, { token: admin.token })), status).toEqual(['INVALID_STATE']);
    }
    expect(codes(await stack.gql(CANCEL, { id: order.id }, { token: admin.token }))).toEqual(['INVALID_STATE']);
    const final = await stack.gql(GET, { id: order.id }, { token: alice.token });
    expect(final.data.order.status).toBe('DELIVERED');
  });
});

describe('orders: Product.shippingEstimate', () => {
  it('needs price and weight from the catalog: free from 5000 cents, else 499 + 50 per started 500 g', async () => {
    const cases = [
      { priceCents: 1999, weightGrams: 750, currency: 'USD', expected: 599 },
      { priceCents: 4999, weightGrams: 0, currency: 'USD', expected: 499 },
      { priceCents: 4999, weightGrams: 500, currency: 'EUR', expected: 549 },
      { priceCents: 4999, weightGrams: 501, currency: 'USD', expected: 599 },
      { priceCents: 5000, weightGrams: 20_000, currency: 'GBP', expected: 0 },
    ];
    for (const { expected, ...input } of cases) {
      const { id } = await stack.product(input);
      const res = await stack.gql(`query($id: ID!) { product(id: $id) { shippingEstimate { amountCents currency } } }`, { id });
      expect(res.errors).toBeUndefined();
      expect(res.data.product.shippingEstimate, JSON.stringify(input)).toEqual({ amountCents: expected, currency: input.currency });
    }
  });
});
