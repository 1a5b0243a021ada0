import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestModeProviderServer } from '../subgraphs/billing/payments/test-mode-server.js';
import { startCluster } from './support/cluster.js';
import type { Cluster } from './support/cluster.js';
import { codes, eventually } from './support/stack.js';
import type { TestUser } from './support/stack.js';

/**
 * The order state machine with refunds, in the production shape (each service its own process,
 * the payment provider a process of its own): a refund of an unshipped order cancels it in orders
 * first (its stock comes back), so it can no longer ship; a shipped order keeps its status and is
 * marked refunded. A refund racing a shipment ends as one of the two, never both. And billing asks
 * orders before charging: a cancelled order's invoice is refused even while billing has not yet
 * seen the cancellation (Redis down).
 */
const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`;
const ORDER = `query($id: ID!) { order(id: $id) { id status invoice { id status } } }`;
const REFUNDED_AT = `query($id: ID!) { order(id: $id) { status refundedAt } }`;
const PAY = `mutation($input: PayInvoiceInput!) { payInvoice(input: $input) { id status } }`;
const REFUND = `mutation($input: RefundPaymentInput!) { refundPayment(input: $input) { id status invoice { status } } }`;
const SET_STATUS = `mutation($id: ID!, $status: OrderStatus!) { setOrderStatus(id: $id, status: $status) { id status } }`;
const CANCEL = `mutation($id: ID!) { cancelOrder(id: $id) { id status } }`;

let provider: Awaited<ReturnType<typeof startTestModeProviderServer>>;
let cluster: Cluster;
let alice: TestUser;
let admin: TestUser;

beforeAll(async () => {
  provider = await startTestModeProviderServer();
  cluster = await startCluster({ logLevel: 'warn', extra: { billing: { PAYMENT_PROVIDER_URL: provider.url } } });
  [alice, admin] = await Promise.all([cluster.customer('Alice'), cluster.admin()]);
}, 400_000);
afterAll(async () => {
  await cluster?.close();
  await provider?.close();
});

const key = (label: string) => `${label}-${randomUUID()}`;
const stockOf = async (productId: string) =>
  (await cluster.sql.catalog`select stock from products where id = ${productId}`)[0]!.stock as number;
const totalCharges = () => Object.values(provider.ledger.chargeCounts()).reduce((a, b) => a + b, 0);

async function placeWithInvoice(productId: string, quantity: number) {
  const placed = await cluster.gql(
    PLACE,
    { input: { items: [{ productId, quantity }], idempotencyKey: key('order') } },
    { token: alice.token },
  );
  expect(placed.errors).toBeUndefined();
  const orderId = placed.data.placeOrder.id as string;
  const invoiceId = await eventually(
    async () => (await cluster.gql(ORDER, { id: orderId }, { token: alice.token })).data?.order?.invoice?.id as string | undefined,
    { timeoutMs: 20_000 },
  );
  return { orderId, invoiceId };
}

/** A placed order, paid, and PAID in orders (InvoicePaid consumed). */
async function paidOrder(productId: string, quantity: number) {
  const { orderId, invoiceId } = await placeWithInvoice(productId, quantity);
  const paid = await cluster.gql(PAY, { input: { invoiceId, cardToken: 'tok_visa', idempotencyKey: key('pay') } }, { token: alice.token });
  expect(paid.errors).toBeUndefined();
  await eventually(
    async () => ((await cluster.gql(ORDER, { id: orderId }, { token: alice.token })).data?.order?.status === 'PAID' ? true : undefined),
    { timeoutMs: 20_000 },
  );
  return { orderId, invoiceId, paymentId: paid.data.payInvoice.id as string };
}

const refund = (paymentId: string) => cluster.gql(REFUND, { input: { paymentId, idempotencyKey: key('refund') } }, { token: admin.token });
const ship = (orderId: string) => cluster.gql(SET_STATUS, { id: orderId, status: 'SHIPPED' }, { token: admin.token });

describe('refunds in the order state machine (one process per service)', () => {
  it('a refunded unshipped order cannot ship: it ends CANCELLED, refunded, with its stock back in catalog', async () => {
    const product = await cluster.product({ stock: 10 });
    const { orderId, invoiceId, paymentId } = await paidOrder(product.id, 3);
    expect(await stockOf(product.id)).toBe(7);

    const refunded = await refund(paymentId);
    expect(refunded.errors).toBeUndefined();
    expect(refunded.data.refundPayment).toEqual({ id: paymentId, status: 'REFUNDED', invoice: { status: 'REFUNDED' } });
    const shipped = await ship(orderId);
    expect(codes(shipped)).toEqual(['INVALID_STATE']);

    const order = await eventually(
      async () => {
        const res = await cluster.gql(REFUNDED_AT, { id: orderId }, { token: alice.token });
        return res.data?.order?.refundedAt ? res.data.order : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(order.status).toBe('CANCELLED');
    await eventually(async () => ((await stockOf(product.id)) === 10 ? true : undefined), { timeoutMs: 20_000 });
    // In the databases: the order cancelled, the invoice and its one payment refunded, one refund at the provider.
    expect((await cluster.sql.orders`select status from orders where id = ${orderId}`)[0]!.status).toBe('CANCELLED');
    expect(await cluster.sql.billing`select status from invoices where id = ${invoiceId}`).toEqual([{ status: 'REFUNDED' }]);
    expect(await cluster.sql.billing`select status from payments where invoice_id = ${invoiceId}`).toEqual([{ status: 'REFUNDED' }]);
    for (const status of ['SHIPPED', 'DELIVERED', 'PAID'])
      expect(codes(await cluster.gql(SET_STATUS, { id: orderId, status }, { token: admin.token }))).toEqual(['INVALID_STATE']);
  }, 90_000);

  it('a shipped order refunded stays SHIPPED and shows refunded; its stock stays sold', async () => {
    const product = await cluster.product({ stock: 10 });
    const { orderId, paymentId } = await paidOrder(product.id, 2);
    expect((await ship(orderId)).data.setOrderStatus.status).toBe('SHIPPED');
    const refunded = await refund(paymentId);
    expect(refunded.data.refundPayment).toEqual({ id: paymentId, status: 'REFUNDED', invoice: { status: 'REFUNDED' } });
    const order = await eventually(
      async () => {
        const res = await cluster.gql(REFUNDED_AT, { id: orderId }, { token: alice.token });
        return res.data?.order?.refundedAt ? res.data.order : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(order.status).toBe('SHIPPED');
    expect(await stockOf(product.id)).toBe(8);
    // The parcel is on its way: delivery is still recorded; nothing else moves.
    expect((await cluster.gql(SET_STATUS, { id: orderId, status: 'DELIVERED' }, { token: admin.token })).data.setOrderStatus.status).toBe(
      'DELIVERED',
    );
    expect(codes(await cluster.gql(CANCEL, { id: orderId }, { token: admin.token }))).toEqual(['INVALID_STATE']);
    expect(codes(await refund(paymentId))).toEqual(['INVALID_STATE']);
  }, 90_000);

  it('refund racing ship: each order is either shipped-and-refunded or cancelled with its stock back, never both', async () => {
    const N = 8;
    const product = await cluster.product({ stock: 100 });
    const orders = [];
    for (let i = 0; i < N; i++) orders.push(await paidOrder(product.id, 1));
    const results = await Promise.all(
      orders.map(async (o) => {
        const [r, s] = await Promise.all([refund(o.paymentId), ship(o.orderId)]);
        return { ...o, refund: r, ship: s };
      }),
    );
    for (const r of results) expect(r.refund.data?.refundPayment?.status, JSON.stringify(r.refund.errors)).toBe('REFUNDED');
    const ids = orders.map((o) => o.orderId);
    // Every order refunded (PaymentRefunded consumed), and its status agrees with who won.
    const rows = await eventually(
      async () => {
        const found = await cluster.sql.orders`select id, status, refunded_at from orders where id = any(${ids})`;
        return found.every((o) => o.refunded_at) ? found : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const shippedIds = new Set(results.filter((r) => !r.ship.errors).map((r) => r.orderId));
    for (const row of rows) expect(row.status).toBe(shippedIds.has(row.id) ? 'SHIPPED' : 'CANCELLED');
    for (const r of results.filter((x) => x.ship.errors)) expect(codes(r.ship)).toEqual(['INVALID_STATE']);
    // Stock conserved: only the shipped orders keep their unit.
    await eventually(async () => ((await stockOf(product.id)) === 100 - shippedIds.size ? true : undefined), { timeoutMs: 30_000 });
    const invoices = await cluster.sql
      .billing`select status, count(*)::int as n from invoices where order_id = any(${ids}) group by status`;
    expect(invoices).toEqual([{ status: 'REFUNDED', n: N }]);
  }, 150_000);

  it('payInvoice on a cancelled order is INVALID_STATE and charges nothing, even before billing hears of the cancellation', async () => {
    const product = await cluster.product({ stock: 10 });
    const { orderId, invoiceId } = await placeWithInvoice(product.id, 1);
    // Redis down: the OrderCancelled event waits in orders' outbox; billing still shows the invoice OPEN.
    await cluster.redis.stop();
    try {
      const cancelled = await cluster.gql(CANCEL, { id: orderId }, { token: alice.token });
      expect(cancelled.data?.cancelOrder?.status, JSON.stringify(cancelled.errors)).toBe('CANCELLED');
      expect(await cluster.sql.billing`select status from invoices where id = ${invoiceId}`).toEqual([{ status: 'OPEN' }]);
      const before = totalCharges();
      const paid = await cluster.gql(
        PAY,
        { input: { invoiceId, cardToken: 'tok_visa', idempotencyKey: key('pay') } },
        { token: alice.token },
      );
      expect(codes(paid)).toEqual(['INVALID_STATE']);
      expect(totalCharges()).toBe(before);
      expect(await cluster.sql.billing`select id from payments where invoice_id = ${invoiceId}`).toEqual([]);
    } finally {
      await cluster.redis.start();
    }
    // Once the event flows again the invoice is voided.
    await eventually(
      async () => {
        const [row] = await cluster.sql.billing`select status from invoices where id = ${invoiceId}`;
        return row?.status === 'VOID' ? true : undefined;
      },
      { timeoutMs: 40_000 },
    );
  }, 120_000);
});
