import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/** Issue 3's flows: services change each other's state through the event backbone only. */
let stack: Stack;
let admin: TestUser;
let customer: TestUser;
let productId: string;

beforeAll(async () => {
  // A Redis of its own (append-only file) so one test can restart it without touching other files.
  stack = await startStack({ bus: 'own-redis' });
  [admin, customer] = await Promise.all([stack.admin(), stack.customer('Eve')]);
  productId = (await stack.product({ stock: 1000, priceCents: 1250 })).id;
});
afterAll(() => stack?.close());

const place = async (quantity = 1) => {
  const res = await stack.gql(
    `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
    { input: { items: [{ productId, quantity }], idempotencyKey: `events-${randomUUID()}` } },
    { token: customer.token },
  );
  expect(res.errors).toBeUndefined();
  return res.data.placeOrder.id as string;
};
const invoiceOf = (orderId: string) =>
  eventually(async () => (await stack.sql.billing`select id, status, amount_cents from invoices where order_id = ${orderId}`)[0]);
const outboxTypes = async (db: 'orders' | 'billing' | 'catalog') =>
  (await stack.sql[db]`select type from outbox order by position`).map((r) => r.type as string);

describe('domain events', () => {
  it('placing, paying, refunding and cancelling move orders and invoices through their states', async () => {
    const orderId = await place(2);
    const invoice = await invoiceOf(orderId);
    expect(invoice).toMatchObject({ status: 'OPEN', amount_cents: 2500 });

    const paid = await stack.gql(
      `mutation($input: PayInvoiceInput!) { payInvoice(input: $input) { id status } }`,
      { input: { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: `pay-${orderId}` } },
      { token: customer.token },
    );
    expect(paid.data.payInvoice.status).toBe('SUCCEEDED');
    await eventually(async () =>
      (await stack.sql.orders`select status from orders where id = ${orderId}`)[0]?.status === 'PAID' ? true : undefined,
    );

    const refunded = await stack.gql(
      `mutation($input: RefundPaymentInput!) { refundPayment(input: $input) { status invoice { status } } }`,
      { input: { paymentId: paid.data.payInvoice.id, idempotencyKey: `refund-${orderId}` } },
      { token: admin.token },
    );
    expect(refunded.data.refundPayment).toEqual({ status: 'REFUNDED', invoice: { status: 'REFUNDED' } });

    const cancelledId = await place(3);
    await invoiceOf(cancelledId);
    const stockBefore = (await stack.sql.catalog`select stock from products where id = ${productId}`)[0]!.stock;
    expect(
      (await stack.gql(`mutation($id: ID!) { cancelOrder(id: $id) { status } }`, { id: cancelledId }, { token: customer.token })).errors,
    ).toBeUndefined();
    await eventually(async () => ((await invoiceOf(cancelledId)).status === 'VOID' ? true : undefined));
    await eventually(async () =>
      (await stack.sql.catalog`select stock from products where id = ${productId}`)[0]!.stock === (stockBefore as number) + 3
        ? true
        : undefined,
    );

    // Each change went out through its service's outbox, and every row was relayed.
    expect(await outboxTypes('orders')).toEqual(expect.arrayContaining(['OrderPlaced', 'OrderStatusChanged', 'OrderCancelled']));
    expect(await outboxTypes('billing')).toEqual(expect.arrayContaining(['InvoicePaid', 'InvoiceStatusChanged', 'PaymentRefunded']));
    expect(await outboxTypes('catalog')).toContain('StockChanged');
    for (const db of ['orders', 'billing', 'catalog'] as const) {
      await eventually(async () =>
        (await stack.sql[db]`select count(*)::int as n from outbox where published_at is null`)[0]!.n === 0 ? true : undefined,
      );
    }
  });

  it('orders placed while billing is down each get exactly one invoice once it is back', async () => {
    await stack.supergraph.stop('billing');
    const placed: string[] = [];
    for (let i = 0; i < 5; i++) placed.push(await place());
    expect((await stack.sql.billing`select count(*)::int as n from invoices where order_id = any(${placed})`)[0]!.n).toBe(0);
    await stack.supergraph.start('billing');
    await eventually(
      async () => {
        const rows = await stack.sql
          .billing`select order_id, count(*)::int as n from invoices where order_id = any(${placed}) group by order_id`;
        return rows.length === placed.length ? rows : undefined;
      },
      { timeoutMs: 20_000 },
    );
    const perOrder = await stack.sql.billing`select count(*)::int as n from invoices where order_id = any(${placed}) group by order_id`;
    expect(perOrder.map((r) => r.n)).toEqual([1, 1, 1, 1, 1]);
  });

  it('a Redis restart in the middle of the flow loses nothing', async () => {
    const before = [await place(), await place()];
    const during = [place(), place(), place()];
    await stack.ownRedis!.restart();
    const placed = [...before, ...(await Promise.all(during)), await place()];
    await eventually(
      async () => {
        const [row] = await stack.sql.billing`select count(*)::int as n from invoices where order_id = any(${placed})`;
        return row!.n === placed.length ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const [dupes] = await stack.sql
      .billing`select count(*)::int as n from (select order_id from invoices group by order_id having count(*) > 1) d`;
    expect(dupes!.n).toBe(0);
  }, 60_000);
});

describe('the embedded bus (npm start without Redis)', () => {
  it('runs the same flows in process', async () => {
    const embedded = await startStack({ bus: 'memory' });
    try {
      const buyer = await embedded.customer();
      const { id } = await embedded.product({ stock: 5 });
      const res = await embedded.gql(
        `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
        { input: { items: [{ productId: id, quantity: 1 }], idempotencyKey: `embedded-${randomUUID()}` } },
        { token: buyer.token },
      );
      const orderId = res.data.placeOrder.id;
      const invoice = await eventually(async () => (await embedded.sql.billing`select id from invoices where order_id = ${orderId}`)[0]);
      const paid = await embedded.gql(
        `mutation($input: PayInvoiceInput!) { payInvoice(input: $input) { status } }`,
        { input: { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: `pay-${orderId}` } },
        { token: buyer.token },
      );
      expect(codes(paid)).toEqual([]);
      await eventually(async () =>
        (await embedded.sql.orders`select status from orders where id = ${orderId}`)[0]?.status === 'PAID' ? true : undefined,
      );
    } finally {
      await embedded.close();
    }
  });
});
