import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect } from 'vitest';
import { codes, eventually, startStack } from './stack.js';
import type { GqlResponse, Stack, TestUser } from './stack.js';

/**
 * What the billing test files share (billing-invoices, billing-payments, billing-refunds): one
 * stack per file with two customers, an admin and a product to order, and the operations and
 * helpers every billing test uses. `useBillingStack()` registers the file's beforeAll / afterAll;
 * the bindings below are filled by then (each test file has its own copy of this module).
 */
export let stack: Stack;
export let alice: TestUser;
export let bob: TestUser;
export let admin: TestUser;
export let productId: string;

export function useBillingStack(): void {
  beforeAll(async () => {
    // The reconciler sweeps often but only settles payments PENDING for 10 minutes (set up by a test).
    stack = await startStack({ extra: { billing: { PAYMENT_RECONCILE_AFTER_MS: '600000', PAYMENT_RECONCILE_INTERVAL_MS: '200' } } });
    [alice, bob, admin] = await Promise.all([stack.customer('Alice'), stack.customer('Bob'), stack.admin()]);
    productId = (await stack.product({ priceCents: 2500, stock: 10_000 })).id;
  }, 120_000);
  afterAll(() => stack?.close());
}

export const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id total { amountCents currency } } }`;
export const ORDER = `query($id: ID!) { order(id: $id) { id status invoice { id status amount { amountCents currency } } } }`;
export const INVOICE = `query($id: ID!) { invoice(id: $id) {
  id status issuedAt paidAt amount { amountCents currency } order { id status }
  payments { id status method amount { amountCents currency } createdAt invoice { id } } } }`;
export const PAY = `mutation($input: PayInvoiceInput!) { payInvoice(input: $input) {
  id status method createdAt amount { amountCents currency } invoice { id status paidAt } } }`;
export const REFUND = `mutation($input: RefundPaymentInput!) { refundPayment(input: $input) { id status invoice { id status } } }`;
export const USER_INVOICES = `query($id: ID!, $first: Int, $after: String, $status: InvoiceStatus) { user(id: $id) { id
  invoices(first: $first, after: $after, status: $status) { edges { cursor node { id status issuedAt } } pageInfo { hasNextPage endCursor } } } }`;

export const key = (label: string) => `${label}-${randomUUID()}`;

/** Places an order of `quantity` units and waits until billing has issued its invoice. */
export async function orderWithInvoice(user: TestUser, quantity = 1) {
  const placed = await stack.gql(
    PLACE,
    { input: { items: [{ productId, quantity }], idempotencyKey: key('order') } },
    { token: user.token },
  );
  expect(placed.errors).toBeUndefined();
  const order = placed.data.placeOrder as { id: string; total: { amountCents: number; currency: string } };
  const invoice = await eventually(async () => {
    const res = await stack.gql(ORDER, { id: order.id }, { token: user.token });
    return (res.data?.order?.invoice ?? undefined) as
      { id: string; status: string; amount: { amountCents: number; currency: string } } | undefined;
  });
  return { order, invoice };
}

export const pay = (user: TestUser | null, input: Record<string, unknown>) => stack.gql(PAY, { input }, user ? { token: user.token } : {});

export const paymentsOf = (invoiceId: string) =>
  stack.sql.billing`select id, status, method from payments where invoice_id = ${invoiceId} order by created_at, id`;

export const expectNullWith = (res: GqlResponse<Record<string, unknown> | null>, field: string, code: string) => {
  expect(res.data?.[field] ?? null).toBeNull();
  expect(codes(res)).toEqual([code]);
};
