import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  admin,
  alice,
  bob,
  expectNullWith,
  INVOICE,
  key,
  orderWithInvoice,
  pay,
  stack,
  useBillingStack,
  USER_INVOICES,
} from './support/billing.js';
import { codes } from './support/stack.js';
import type { UntypedResponse } from './support/stack.js';

/** Billing: reading invoices, through the order, Query.invoice and User.invoices, and who may see them. */
useBillingStack();

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

describe('User.invoices', () => {
  it('pages newest first with keyset cursors and filters by status', async () => {
    const carol = await stack.customer('Carol');
    const placed: string[] = [];
    for (let i = 0; i < 5; i++) placed.push((await orderWithInvoice(carol)).invoice.id);
    await pay(carol, { invoiceId: placed[1]!, cardToken: 'tok_visa', idempotencyKey: key('carol') });
    const expected = (
      await stack.sql.billing`select id from invoices where customer_id = ${carol.id} order by issued_at desc, id desc`
    ).map((r) => r.id);
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
    expect(open.data.user.invoices.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual(
      expected.filter((id) => id !== placed[1]).slice(0, 3),
    );
    expect(open.data.user.invoices.pageInfo.hasNextPage).toBe(true);

    const byAdmin = await stack.gql(USER_INVOICES, { id: carol.id, first: 100 }, { token: admin.token });
    expect(byAdmin.data.user.invoices.edges).toHaveLength(5);
  });

  it('rejects first outside 1..100 and a foreign cursor with BAD_USER_INPUT', async () => {
    for (const first of [0, 101, -1]) {
      expect(codes(await stack.gql(USER_INVOICES, { id: alice.id, first }, { token: alice.token }))).toEqual(['BAD_USER_INPUT']);
    }
    const forged = (parts: unknown[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');
    for (const after of [
      'garbage',
      forged(['2026-01-01T00:00:00.000Z', 'not-a-uuid']),
      forged(['yesterday', randomUUID()]),
      forged([1, randomUUID()]),
    ]) {
      expect(codes(await stack.gql(USER_INVOICES, { id: alice.id, after }, { token: alice.token }))).toEqual(['BAD_USER_INPUT']);
    }
  });

  it('is FORBIDDEN for another customer and UNAUTHENTICATED for anonymous callers', async () => {
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
