import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  admin,
  alice,
  INVOICE,
  key,
  ORDER,
  orderWithInvoice,
  pay,
  paymentsOf,
  PLACE,
  REFUND,
  stack,
  useBillingStack,
} from './support/billing.js';
import { codes, eventually } from './support/stack.js';

/** Billing: refundPayment, and what an order's cancellation does to its invoice and payment. */
useBillingStack();

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
    expect(codes(await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('repay') }))).toEqual([
      'INVALID_STATE',
    ]);
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

describe('order lifecycle', () => {
  it('voids the invoice when its order is cancelled; a VOID invoice cannot be paid', async () => {
    const { order, invoice } = await orderWithInvoice(alice);
    const cancelled = await stack.gql(
      `mutation($id: ID!) { cancelOrder(id: $id) { id status invoice { status } } }`,
      { id: order.id },
      { token: alice.token },
    );
    expect(cancelled.errors).toBeUndefined();
    expect(cancelled.data.cancelOrder.status).toBe('CANCELLED');
    const read = await eventually(async () => {
      const res = await stack.gql(INVOICE, { id: invoice.id }, { token: alice.token });
      return res.data?.invoice?.status === 'VOID' ? res : undefined;
    });
    expect(read.data.invoice.order.status).toBe('CANCELLED');
    expect(codes(await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('void') }))).toEqual([
      'INVALID_STATE',
    ]);
  });

  it('keeps a paid order from being cancelled (its invoice cannot be voided)', async () => {
    const { order, invoice } = await orderWithInvoice(alice);
    expect((await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('paid') })).errors).toBeUndefined();
    // The order becomes PAID when orders consumes InvoicePaid.
    await eventually(async () =>
      (await stack.sql.orders`select status from orders where id = ${order.id}`)[0]?.status === 'PAID' ? true : undefined,
    );
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
    const placed = await stack.gql(
      PLACE,
      { input: { items: [{ productId: product.id, quantity: 2 }], idempotencyKey: key('order') } },
      { token: alice.token },
    );
    const orderId = placed.data.placeOrder.id as string;
    const invoice = await eventually(
      async () => (await stack.gql(ORDER, { id: orderId }, { token: alice.token })).data?.order?.invoice ?? undefined,
    );
    expect((await pay(alice, { invoiceId: invoice.id, cardToken: 'tok_visa', idempotencyKey: key('paid') })).errors).toBeUndefined();
    await eventually(async () =>
      (await stack.sql.orders`select status from orders where id = ${orderId}`)[0]?.status === 'PAID' ? true : undefined,
    );
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
