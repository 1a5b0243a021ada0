import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, eventually, startStack } from './support/stack.js';
import type { GqlResponse, Stack, TestUser, UntypedResponse } from './support/stack.js';

let stack: Stack;
let alice: TestUser;
let bob: TestUser;
let admin: TestUser;
let productId: string;

const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id total { amountCents currency } } }`;
const ORDER = `query($id: ID!) { order(id: $id) { id status invoice { id status amount { amountCents currency } } } }`;
const INVOICE = `query($id: ID!) { invoice(id: $id) {
  id status issuedAt paidAt amount { amountCents currency } order { id status }
  payments { id status method amount { amountCents currency } createdAt invoice { id } } } }`;
const PAY = `mutation($input: PayInvoiceInput!) { payInvoice(input: $input) {
  id status method createdAt amount { amountCents currency } invoice { id status paidAt } } }`;
const REFUND = `mutation($input: RefundPaymentInput!) { refundPayment(input: $input) { id status invoice { id status } } }`;
const USER_INVOICES = `query($id: ID!, $first: Int, $after: String, $status: InvoiceStatus) { user(id: $id) { id
  invoices(first: $first, after: $after, status: $status) { edges { cursor node { id status issuedAt } } pageInfo { hasNextPage endCursor } } } }`;

const key = (label: string) => `${label}-${randomUUID()}`;

/** Places an order of `quantity` units and waits until billing has issued its invoice. */
async function orderWithInvoice(user: TestUser, quantity = 1) {
  const placed = await stack.gql(PLACE, { input: { items: [{ productId, quantity }], idempotencyKey: key('order') } }, { token: user.token });
  expect(placed.errors).toBeUndefined();
  const order = placed.data.placeOrder as { id: string; total: { amountCents: number; currency: string } };
  const invoice = await eventually(async () => {
    const res = await stack.gql(ORDER, { id: order.id }, { token: user.token });
    return (res.data?.order?.invoice ?? undefined) as { id: string; status: string; amount: { amountCents: number; currency: string } } | undefined;
  });
  return { order, invoice };
}

const pay = (user: TestUser | null, input: Record<string, unknown>) => stack.gql(PAY, { input }, user ? { token: user.token } : {});

const paymentsOf = (invoiceId: string) =>
  stack.sql.billing`select id, status, method from payments where invoice_id = ${invoiceId} order by created_at, id`;

const expectNullWith = (res: GqlResponse<Record<string, unknown> | null>, field: string, code: string) => {
  expect(res.data?.[field] ?? null).toBeNull();
  expect(codes(res)).toEqual([code]);
};

beforeAll(async () => {
  // The reconciler sweeps often but only settles payments PENDING for 10 minutes (set up by a test below).
  stack = await startStack({ extra: { billing: { PAYMENT_RECONCILE_AFTER_MS: '600000', PAYMENT_RECONCILE_INTERVAL_MS: '200' } } });
  [alice, bob, admin] = await Promise.all([stack.customer('Alice'), stack.customer('Bob'), stack.admin()]);
  productId = (await stack.product({ priceCents: 2500, stock: 10_000 })).id;
}, 120_000);
afterAll(() => stack?.close());

describe('reading invoices', () => {
  it('issues an invoice for a placed order, visible to its owner through the order and Query.invoice', async () => {
    const { order, invoice } = await orderWithInvoice(alice, 3);
    expect(invoice).toMatchObject({ status: 'OPEN', amount: order.total });
    expect(order.total).toEqual({ amountCents: 7500, currency: 'USD' });
    const res = await stack.gql(INVOICE, { id: invoice.id }, { token: alice.token });
    expect(res.errors).toBeUndefined();
    expect(res.data.invoice).toMatchObject({ id: invoice.id, status: 'OPEN', paidAt: null, amount: order.total, payments: [] });
    expect(res.data.invoice.order).toEqual({ id: order.id, status: 'PENDING_PAYMENT' });
    expect(res.data.invoice.issuedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it("hides someone else's invoice and a missing one behind the same NOT_FOUND", async () => {
    const { invoice } = await orderWithInvoice(alice);
    const other = await stack.gql(INVOICE, { id: invoice.id }, { token: bob.token });
    const missingId = randomUUID();
    const missing = await stack.gql(INVOICE, { id: missingId }, { token: bob.token });
    const bogus = await stack.gql(INVOICE, { id: 'not-an-id' }, { token: bob.token });
    expectNullWith(other, 'invoice', 'NOT_FOUND');
    expectNullWith(missing, 'invoice', 'NOT_FOUND');
    expectNullWith(bogus, 'invoice', 'NOT_FOUND');
    expect(other.errors![0]!.message.replace(invoice.id, 'X')).toBe(missing.errors![0]!.message.replace(missingId, 'X'));
  });

  it('asks anonymous callers to sign in', async () => {
    const { invoice } = await orderWithInvoice(alice);
    expectNullWith(await stack.gql(INVOICE, { id: invoice.id }), 'invoice', 'UNAUTHENTICATED');
  });

  it("shows an admin anyone's invoice, and NOT_FOUND for a missing one", async () => {
    const { invoice } = await orderWithInvoice(alice);
    const res = await stack.gql(INVOICE, { id: invoice.id }, { token: admin.token });
    expect(res.errors).toBeUndefined();
    expect(res.data.invoice.id).toBe(invoice.id);
    expectNullWith(await stack.gql(INVOICE, { id: randomUUID() }, { token: admin.token }), 'invoice', 'NOT_FOUND');
  });
});

describe('payInvoice', () => {
  it('pays an OPEN invoice: SUCCEEDED payment, invoice PAID, order PAID', async () => {
    const { order, invoice } = await orderWithInvoice(alice, 2);
    const res = await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('pay') });
    expect(res.errors).toBeUndefined();
    const payment = res.data.payInvoice;
    expect(payment).toMatchObject({ status: 'SUCCEEDED', method: 'Visa •••• 4242', amount: { amountCents: 5000, currency: 'USD' } });
    expect(payment.invoice.status).toBe('PAID');
    expect(payment.invoice.paidAt).toMatch(/Z$/);
    const read = await stack.gql(INVOICE, { id: invoice.id }, { token: alice.token });
    expect(read.data.invoice.payments.map((p: { id: string }) => p.id)).toEqual([payment.id]);
    expect(read.data.invoice.payments[0].invoice.id).toBe(invoice.id);
    await eventually(async () => {
      const o = await stack.gql(ORDER, { id: order.id }, { token: alice.token });
      return o.data?.order?.status === 'PAID' ? true : undefined;
    });
    // The card token goes to the provider only: it is not in any billing table.
    const stored = await stack.sql.billing`select count(*)::int as n from payments where method like '%tok_%' or provider_ref like '%tok_%'`;
    expect(stored[0]!.n).toBe(0);
  });

  it('records a declined card as a FAILED payment, leaves the invoice OPEN and replays the decline', async () => {
    const { invoice } = await orderWithInvoice(alice);
    const input = { invoiceId: invoice.id, cardToken: 'tok_chargeDeclined', idempotencyKey: key('declined') };
    const first = await pay(alice, input);
    expect(first.data).toBeNull();
    expect(codes(first)).toEqual(['PAYMENT_DECLINED']);
    const retry = await pay(alice, input);
    expect(codes(retry)).toEqual(['PAYMENT_DECLINED']);
    expect(retry.errors![0]!.message).toBe(first.errors![0]!.message);
    expect(await paymentsOf(invoice.id)).toEqual([expect.objectContaining({ status: 'FAILED', method: 'Visa •••• 0002' })]);
    const read = await stack.gql(INVOICE, { id: invoice.id }, { token: alice.token });
    expect(read.data.invoice.status).toBe('OPEN');
    expect(read.data.invoice.payments).toEqual([expect.objectContaining({ status: 'FAILED', method: 'Visa •••• 0002' })]);

    // A good card afterwards pays it; payments list oldest first.
    const ok = await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('after-decline') });
    expect(ok.errors).toBeUndefined();
    const after = await stack.gql(INVOICE, { id: invoice.id }, { token: alice.token });
    expect(after.data.invoice.status).toBe('PAID');
    expect(after.data.invoice.payments.map((p: { status: string }) => p.status)).toEqual(['FAILED', 'SUCCEEDED']);
  });

  it('rejects an unknown card token with BAD_USER_INPUT before writing anything', async () => {
    const { invoice } = await orderWithInvoice(alice);
    const idempotencyKey = key('bad-token');
    const res = await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_mastercard', idempotencyKey });
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
    expect(res.errors![0]!.message).not.toContain('tok_mastercard');
    expect(await paymentsOf(invoice.id)).toEqual([]);
    expect(await stack.sql.billing`select 1 from idempotency_keys where key = ${idempotencyKey}`).toHaveLength(0);
    // The key was not burnt: it still works with a good token.
    const ok = await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey });
    expect(ok.errors).toBeUndefined();
  });

  it('validates the idempotency key length (8..255) and the other fields', async () => {
    const { invoice } = await orderWithInvoice(alice);
    for (const idempotencyKey of ['short', 'x'.repeat(256)]) {
      const res = await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey });
      expect(codes(res)).toEqual(['BAD_USER_INPUT']);
      expect(res.errors![0]!.extensions!.field).toBe('input.idempotencyKey');
    }
    const empty = await pay(alice, { invoiceId: invoice.id, cardToken: '', idempotencyKey: key('empty') });
    expect(codes(empty)).toEqual(['BAD_USER_INPUT']);
    expect(empty.errors![0]!.extensions!.field).toBe('input.cardToken');
    expect(await paymentsOf(invoice.id)).toEqual([]);
  });

  it('returns the first payment for the same key and input, IDEMPOTENCY_KEY_REUSED for a different input', async () => {
    const { invoice } = await orderWithInvoice(alice);
    const other = await orderWithInvoice(alice);
    const input = { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('same') };
    const first = await pay(alice, input);
    const second = await pay(alice, input);
    expect(first.errors).toBeUndefined();
    expect(second.errors).toBeUndefined();
    expect(second.data.payInvoice.id).toBe(first.data.payInvoice.id);
    expect(await paymentsOf(invoice.id)).toHaveLength(1);

    const reused = await pay(alice, { ...input, invoiceId: other.invoice.id });
    expect(codes(reused)).toEqual(['IDEMPOTENCY_KEY_REUSED']);
    const reusedToken = await pay(alice, { ...input, cardToken: 'tok_chargeDeclined' });
    expect(codes(reusedToken)).toEqual(['IDEMPOTENCY_KEY_REUSED']);
    expect(await paymentsOf(other.invoice.id)).toEqual([]);
  });

  it('scopes keys to the caller: the same key from another customer is their own request', async () => {
    const { invoice } = await orderWithInvoice(bob);
    const shared = key('shared');
    const mine = await orderWithInvoice(alice);
    expect((await pay(alice, { invoiceId: mine.invoice.id, cardToken: 'tok_visa', idempotencyKey: shared })).errors).toBeUndefined();
    const res = await pay(bob, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: shared });
    expect(res.errors).toBeUndefined();
    expect(res.data.payInvoice.invoice.id).toBe(invoice.id);
  });

  it('refuses to pay an invoice that is not OPEN with INVALID_STATE', async () => {
    const { invoice } = await orderWithInvoice(alice);
    expect((await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('once') })).errors).toBeUndefined();
    const again = await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('twice') });
    expect(codes(again)).toEqual(['INVALID_STATE']);
    expect(await paymentsOf(invoice.id)).toHaveLength(1);
  });

  it('takes one payment for five concurrent requests with the same key', async () => {
    const { invoice } = await orderWithInvoice(alice);
    const input = { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('burst') };
    const results = await Promise.all(Array.from({ length: 5 }, () => pay(alice, input)));
    for (const r of results) expect(r.errors).toBeUndefined();
    expect(new Set(results.map((r) => r.data.payInvoice.id)).size).toBe(1);
    expect(await paymentsOf(invoice.id)).toHaveLength(1);
  });

  it('takes one payment for concurrent requests with different keys', async () => {
    const { invoice } = await orderWithInvoice(alice);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('race') })),
    );
    expect(results.filter((r) => !r.errors).length).toBe(1);
    expect(results.flatMap(codes).sort()).toEqual(['INVALID_STATE', 'INVALID_STATE', 'INVALID_STATE', 'INVALID_STATE']);
    expect(await paymentsOf(invoice.id)).toHaveLength(1);
  });

  it("answers NOT_FOUND for someone else's or a missing invoice, FORBIDDEN for an admin, UNAUTHENTICATED when anonymous", async () => {
    const { invoice } = await orderWithInvoice(alice);
    const base = { cardToken: 'tok_visa' };
    expect(codes(await pay(bob, { ...base, invoiceId: invoice.id, idempotencyKey: key('bob') }))).toEqual(['NOT_FOUND']);
    expect(codes(await pay(bob, { ...base, invoiceId: randomUUID(), idempotencyKey: key('missing') }))).toEqual(['NOT_FOUND']);
    expect(codes(await pay(bob, { ...base, invoiceId: 'nope', idempotencyKey: key('bogus') }))).toEqual(['NOT_FOUND']);
    expect(codes(await pay(admin, { ...base, invoiceId: invoice.id, idempotencyKey: key('admin') }))).toEqual(['FORBIDDEN']);
    expect(codes(await pay(null, { ...base, invoiceId: invoice.id, idempotencyKey: key('anon') }))).toEqual(['UNAUTHENTICATED']);
    expect(await paymentsOf(invoice.id)).toEqual([]);
  });
});

describe('refundPayment', () => {
  it('is for admins only; refunds a SUCCEEDED payment and its invoice once', async () => {
    const { invoice } = await orderWithInvoice(alice);
    const paid = await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('to-refund') });
    const paymentId = paid.data.payInvoice.id as string;

    const anon = await stack.gql(REFUND, { input: { paymentId, idempotencyKey: key('anon') } });
    expect(codes(anon)).toEqual(['UNAUTHENTICATED']);
    const customer = await stack.gql(REFUND, { input: { paymentId, idempotencyKey: key('cust') } }, { token: alice.token });
    expect(codes(customer)).toEqual(['FORBIDDEN']);

    const input = { paymentId, idempotencyKey: key('refund') };
    const res = await stack.gql(REFUND, { input }, { token: admin.token });
    expect(res.errors).toBeUndefined();
    expect(res.data.refundPayment).toEqual({ id: paymentId, status: 'REFUNDED', invoice: { id: invoice.id, status: 'REFUNDED' } });
    const replay = await stack.gql(REFUND, { input }, { token: admin.token });
    expect(replay.data.refundPayment.id).toBe(paymentId);

    const again = await stack.gql(REFUND, { input: { paymentId, idempotencyKey: key('refund-again') } }, { token: admin.token });
    expect(codes(again)).toEqual(['INVALID_STATE']);
    const read = await stack.gql(INVOICE, { id: invoice.id }, { token: alice.token });
    expect(read.data.invoice.status).toBe('REFUNDED');
    expect(read.data.invoice.payments.map((p: { status: string }) => p.status)).toEqual(['REFUNDED']);
    // A refunded invoice cannot be paid again.
    expect(codes(await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('repay') }))).toEqual(['INVALID_STATE']);
  });

  it('answers NOT_FOUND for a missing payment, INVALID_STATE for a FAILED one, BAD_USER_INPUT for a short key', async () => {
    const missing = await stack.gql(REFUND, { input: { paymentId: randomUUID(), idempotencyKey: key('missing') } }, { token: admin.token });
    expect(codes(missing)).toEqual(['NOT_FOUND']);
    const { invoice } = await orderWithInvoice(alice);
    await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_chargeDeclined', idempotencyKey: key('fail') });
    const [failed] = await paymentsOf(invoice.id);
    const res = await stack.gql(REFUND, { input: { paymentId: failed!.id, idempotencyKey: key('failed') } }, { token: admin.token });
    expect(codes(res)).toEqual(['INVALID_STATE']);
    const short = await stack.gql(REFUND, { input: { paymentId: failed!.id, idempotencyKey: 'short' } }, { token: admin.token });
    expect(codes(short)).toEqual(['BAD_USER_INPUT']);
  });
});

describe('User.invoices', () => {
  it('pages newest first with keyset cursors and filters by status', async () => {
    const carol = await stack.customer('Carol');
    const placed: string[] = [];
    for (let i = 0; i < 5; i++) placed.push((await orderWithInvoice(carol)).invoice.id);
    await pay(carol, { invoiceId: placed[1]!, cardToken: 'tok_visa', idempotencyKey: key('carol') });
    const expected = (await stack.sql.billing`select id from invoices where customer_id = ${carol.id} order by issued_at desc, id desc`).map((r) => r.id);
    expect(expected).toHaveLength(5);

    const seen: string[] = [];
    let after: string | null = null;
    for (const size of [2, 2, 1]) {
      const res: UntypedResponse = await stack.gql(USER_INVOICES, { id: carol.id, first: 2, after }, { token: carol.token });
      expect(res.errors).toBeUndefined();
      const page = res.data.user.invoices;
      expect(page.edges).toHaveLength(size);
      seen.push(...page.edges.map((e: { node: { id: string } }) => e.node.id));
      expect(page.pageInfo.hasNextPage).toBe(seen.length < 5);
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual(expected);

    const paid = await stack.gql(USER_INVOICES, { id: carol.id, status: 'PAID' }, { token: carol.token });
    expect(paid.data.user.invoices.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([placed[1]]);
    const open = await stack.gql(USER_INVOICES, { id: carol.id, status: 'OPEN', first: 3 }, { token: carol.token });
    expect(open.data.user.invoices.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual(expected.filter((id) => id !== placed[1]).slice(0, 3));
    expect(open.data.user.invoices.pageInfo.hasNextPage).toBe(true);

    const byAdmin = await stack.gql(USER_INVOICES, { id: carol.id, first: 100 }, { token: admin.token });
    expect(byAdmin.data.user.invoices.edges).toHaveLength(5);
  });

  it('rejects first outside 1..100 and a foreign cursor with BAD_USER_INPUT', async () => {
    for (const first of [0, 101, -1]) {
      expect(codes(await stack.gql(USER_INVOICES, { id: alice.id, first }, { token: alice.token }))).toEqual(['BAD_USER_INPUT']);
    }
    const forged = (parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');
    for (const after of ['garbage', forged(['2026-01-01T00:00:00.000Z', 'not-a-uuid']), forged(['yesterday', randomUUID()]), forged([1, randomUUID()])]) {
      expect(codes(await stack.gql(USER_INVOICES, { id: alice.id, after }, { token: alice.token }))).toEqual(['BAD_USER_INPUT']);
    }
  });

  it("is FORBIDDEN for another customer and UNAUTHENTICATED for anonymous callers", async () => {
    const other = await stack.gql(USER_INVOICES, { id: alice.id }, { token: bob.token });
    expect(other.data?.user ?? null).toBeNull();
    expect(codes(other)).toEqual(['FORBIDDEN']);
    expect(codes(await stack.gql(USER_INVOICES, { id: alice.id }))).toEqual(['UNAUTHENTICATED']);
  });

  it('is empty for a user without invoices', async () => {
    const dave = await stack.customer('Dave');
    const res = await stack.gql(USER_INVOICES, { id: dave.id }, { token: dave.token });
    expect(res.data.user.invoices).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });
});

describe('order lifecycle', () => {
  it('voids the invoice when its order is cancelled; a VOID invoice cannot be paid', async () => {
    const { order, invoice } = await orderWithInvoice(alice);
    const cancelled = await stack.gql(`mutation($id: ID!) { cancelOrder(id: $id) { id status invoice { status } } }`, { id: order.id }, { token: alice.token });
    expect(cancelled.errors).toBeUndefined();
    expect(cancelled.data.cancelOrder.status).toBe('CANCELLED');
    const read = await eventually(async () => {
      const res = await stack.gql(INVOICE, { id: invoice.id }, { token: alice.token });
      return res.data?.invoice?.status === 'VOID' ? res : undefined;
    });
    expect(read.data.invoice.order.status).toBe('CANCELLED');
    expect(codes(await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('void') }))).toEqual(['INVALID_STATE']);
  });

  it('keeps a paid order from being cancelled (its invoice cannot be voided)', async () => {
    const { order, invoice } = await orderWithInvoice(alice);
    expect((await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('paid') })).errors).toBeUndefined();
    // The order becomes PAID when orders consumes InvoicePaid.
    await eventually(async () => ((await stack.sql.orders`select status from orders where id = ${order.id}`)[0]?.status === 'PAID' ? true : undefined));
    const res = await stack.gql(`mutation($id: ID!) { cancelOrder(id: $id) { id status } }`, { id: order.id }, { token: alice.token });
    expect(codes(res)).toEqual(['INVALID_STATE']);
    const read = await stack.gql(INVOICE, { id: invoice.id }, { token: alice.token });
    expect(read.data.invoice.status).toBe('PAID');
  });

  it('a cancellation racing a payment never leaves a paid invoice on a cancelled order', async () => {
    for (let i = 0; i < 5; i++) {
      const { order, invoice } = await orderWithInvoice(alice);
      const [paid, cancelled] = await Promise.all([
        pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key(`race-${i}`) }),
        stack.gql(`mutation($id: ID!) { cancelOrder(id: $id) { status } }`, { id: order.id }, { token: alice.token }),
      ]);
      const settled = await eventually(async () => {
        const [o] = await stack.sql.orders`select status from orders where id = ${order.id}`;
        const [inv] = await stack.sql.billing`select status from invoices where id = ${invoice.id}`;
        const state = `${o!.status}/${inv!.status}`;
        return ['PAID/PAID', 'CANCELLED/VOID', 'CANCELLED/REFUNDED'].includes(state) ? state : undefined;
      });
      // Whichever won, money and state agree: paid and kept, voided unpaid, or cancelled and refunded.
      if (settled === 'CANCELLED/REFUNDED') expect(paid.errors).toBeUndefined();
      if (settled === 'PAID/PAID') expect(codes(cancelled)).toEqual(['INVALID_STATE']);
      if (settled === 'CANCELLED/VOID') expect(codes(paid)).toEqual(['INVALID_STATE']);
    }
  });

  it('an admin cancelling a paid order (not yet shipped) refunds it and returns its stock', async () => {
    const product = await stack.product({ stock: 5 });
    const placed = await stack.gql(PLACE, { input: { items: [{ productId: product.id, quantity: 2 }], idempotencyKey: key('order') } }, { token: alice.token });
    const orderId = placed.data.placeOrder.id as string;
    const invoice = await eventually(async () => (await stack.gql(ORDER, { id: orderId }, { token: alice.token })).data?.order?.invoice ?? undefined);
    expect((await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('paid') })).errors).toBeUndefined();
    await eventually(async () => ((await stack.sql.orders`select status from orders where id = ${orderId}`)[0]?.status === 'PAID' ? true : undefined));
    const res = await stack.gql(`mutation($id: ID!) { cancelOrder(id: $id) { id status } }`, { id: orderId }, { token: admin.token });
    expect(res.data.cancelOrder.status).toBe('CANCELLED');
    await eventually(async () => {
      const [inv] = await stack.sql.billing`select status from invoices where id = ${invoice.id}`;
      const [stock] = await stack.sql.catalog`select stock from products where id = ${product.id}`;
      const [order] = await stack.sql.orders`select refunded_at from orders where id = ${orderId}`;
      return inv?.status === 'REFUNDED' && stock?.stock === 5 && order?.refunded_at ? true : undefined;
    });
    expect((await paymentsOf(invoice.id)).map((p) => p.status)).toEqual(['REFUNDED']);
  });
});

describe('payments a crash left PENDING', () => {
  it('blocks other payments of the invoice until the reconciler settles it; never charged means FAILED (abandoned)', async () => {
    const { invoice } = await orderWithInvoice(alice);
    // What a crash after step 1 (PENDING committed) and before the provider call leaves behind.
    const [pending] = await stack.sql.billing`insert into payments (invoice_id, amount_cents, currency, status, method, provider_key)
      values (${invoice.id}, ${invoice.amount.amountCents}, ${invoice.amount.currency}, 'PENDING', 'Card (pending)', ${key('crashed')}) returning id`;
    const blocked = await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('second') });
    expect(codes(blocked)).toEqual(['INVALID_STATE']);
    expect(blocked.errors![0]!.message).toMatch(/in progress/);
    // Ten minutes later (as far as the reconciler can tell): the provider has no charge under the key.
    await stack.sql.billing`update payments set created_at = now() - interval '1 hour' where id = ${pending!.id}`;
    const settled = await eventually(async () => {
      const [row] = await stack.sql.billing`select status, failure_reason from payments where id = ${pending!.id}`;
      return row?.status === 'PENDING' ? undefined : row;
    });
    expect(settled).toEqual({ status: 'FAILED', failure_reason: 'abandoned' });
    const paid = await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('third') });
    expect(paid.data.payInvoice).toMatchObject({ status: 'SUCCEEDED', invoice: { status: 'PAID' } });
    expect((await paymentsOf(invoice.id)).map((p) => p.status).sort()).toEqual(['FAILED', 'SUCCEEDED']);
  });
});
