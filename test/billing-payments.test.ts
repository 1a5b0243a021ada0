import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { admin, alice, bob, INVOICE, key, ORDER, orderWithInvoice, pay, paymentsOf, stack, useBillingStack } from './support/billing.js';
import { codes, eventually } from './support/stack.js';

/** Billing: payInvoice (charges, declines, idempotency, concurrency, access) and payments a crash left PENDING. */
useBillingStack();

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
    const stored = await stack.sql
      .billing`select count(*)::int as n from payments where method like '%tok_%' or provider_ref like '%tok_%'`;
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
