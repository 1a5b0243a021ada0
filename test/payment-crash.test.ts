import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestModeProviderServer } from '../subgraphs/billing/payments/test-mode-server.js';
import { startCluster } from './support/cluster.js';
import type { Cluster } from './support/cluster.js';
import { eventually } from './support/stack.js';
import type { TestUser } from './support/stack.js';

/**
 * Charges survive crashes (issue 9, case 8), in the production shape: billing its own process, the
 * payment provider another one (test mode over HTTP, counting charges per idempotency key), and
 * billing SIGKILLs itself right after the provider charged and before it recorded the outcome
 * (FAULT_KILL_AFTER_CHARGE_TOKEN, NODE_ENV=test only). Whatever happens next (a retry with the
 * same key, a retry with a new key, no retry at all), the card is charged once, the payment is
 * SUCCEEDED once and the invoice PAID once, checked at the provider and in billing's database.
 */
const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`;
const ORDER = `query($id: ID!) { order(id: $id) { id status invoice { id status } } }`;
const PAY = `mutation($input: PayInvoiceInput!) { payInvoice(input: $input) { id status invoice { status } } }`;

let provider: Awaited<ReturnType<typeof startTestModeProviderServer>>;
let cluster: Cluster;
let alice: TestUser;
let productId: string;

const CRASH = {
  FAULT_KILL_AFTER_CHARGE_TOKEN: 'tok_visa',
  PAYMENT_RECONCILE_AFTER_MS: '1000',
  PAYMENT_RECONCILE_INTERVAL_MS: '300',
  PAYMENT_PROVIDER_TIMEOUT_MS: '3000',
};

beforeAll(async () => {
  provider = await startTestModeProviderServer();
  cluster = await startCluster({
    logLevel: 'warn',
    extra: { billing: { PAYMENT_PROVIDER_URL: provider.url, ...CRASH } },
  });
  alice = await cluster.customer('Alice');
  productId = (await cluster.product({ stock: 1_000, priceCents: 4200 })).id;
}, 400_000);
afterAll(async () => {
  await cluster?.close();
  await provider?.close();
});

const key = (label: string) => `${label}-${randomUUID()}`;
const totalCharges = () => Object.values(provider.ledger.chargeCounts()).reduce((a, b) => a + b, 0);
const pay = (invoiceId: string, idempotencyKey: string) =>
  cluster
    .gql(PAY, { input: { invoiceId, cardToken: 'tok_visa', idempotencyKey } }, { token: alice.token })
    .catch((err: unknown) => ({ errors: [{ message: (err as Error).message }] }) as never);

async function invoiceOfNewOrder() {
  const placed = await cluster.gql(
    PLACE,
    { input: { items: [{ productId, quantity: 1 }], idempotencyKey: key('order') } },
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

/** Pays with the kill hook armed: billing dies after the provider charged; returns once it is gone. */
async function payAndCrash(invoiceId: string, idempotencyKey: string) {
  const pid = cluster.pid('billing')!;
  const charges = totalCharges();
  const res = await pay(invoiceId, idempotencyKey);
  expect(res.data?.payInvoice ?? null).toBeNull();
  await eventually(
    async () => {
      try {
        process.kill(pid, 0);
        return undefined;
      } catch {
        return true;
      }
    },
    { timeoutMs: 10_000 },
  );
  expect(totalCharges()).toBe(charges + 1); // the provider took the money; billing never heard back
}

/** What billing's database holds for the invoice: its status, and every payment's status. */
async function billingState(invoiceId: string) {
  const [invoice] = await cluster.sql.billing`select status from invoices where id = ${invoiceId}`;
  const payments = await cluster.sql.billing`select status from payments where invoice_id = ${invoiceId} order by created_at`;
  const paidEvents = await cluster.sql
    .billing`select count(*)::int as n from outbox where type = 'InvoicePaid' and payload->>'invoiceId' = ${invoiceId}`;
  return { invoice: invoice?.status, payments: payments.map((p) => p.status), invoicePaidEvents: paidEvents[0]!.n };
}

const PAID_ONCE = { invoice: 'PAID', payments: ['SUCCEEDED'], invoicePaidEvents: 1 };

describe('a crash between the charge and its commit (one process per service)', () => {
  it('a client retry with the same key after the restart finds the same payment: one charge, SUCCEEDED once, PAID once', async () => {
    const { orderId, invoiceId } = await invoiceOfNewOrder();
    const before = totalCharges();
    const k = key('pay');
    await payAndCrash(invoiceId, k);
    // The reconciler held off, so the retry is what finishes the payment the crash left PENDING.
    await cluster.start('billing', 0, { PAYMENT_RECONCILE_AFTER_MS: '600000' });
    expect(await billingState(invoiceId)).toEqual({ invoice: 'OPEN', payments: ['PENDING'], invoicePaidEvents: 0 });
    const retry = await pay(invoiceId, k);
    expect(retry.errors).toBeUndefined();
    expect(retry.data.payInvoice).toMatchObject({ status: 'SUCCEEDED', invoice: { status: 'PAID' } });
    expect(totalCharges() - before).toBe(1);
    expect(await billingState(invoiceId)).toEqual(PAID_ONCE);
    await eventually(
      async () => ((await cluster.gql(ORDER, { id: orderId }, { token: alice.token })).data?.order?.status === 'PAID' ? true : undefined),
      { timeoutMs: 20_000 },
    );
  }, 300_000);

  it('a retry with a new key (the customer pressed "pay" again) does not charge again', async () => {
    const { invoiceId } = await invoiceOfNewOrder();
    const before = totalCharges();
    await payAndCrash(invoiceId, key('pay'));
    await cluster.start('billing', 0, { PAYMENT_RECONCILE_AFTER_MS: CRASH.PAYMENT_RECONCILE_AFTER_MS });
    // Whatever the second attempt answers while the first is being settled, it never takes money.
    const second = await pay(invoiceId, key('pay-again'));
    expect(second.data?.payInvoice ?? null).toBeNull();
    await eventually(async () => ((await billingState(invoiceId)).invoice === 'PAID' ? true : undefined), { timeoutMs: 20_000 });
    const third = await pay(invoiceId, key('pay-third'));
    expect(third.errors?.[0]?.extensions?.code).toBe('INVALID_STATE');
    expect(totalCharges() - before).toBe(1);
    expect(await billingState(invoiceId)).toEqual(PAID_ONCE);
  }, 300_000);

  it('with no retry at all, the reconciler settles the payment after the restart from the provider by its key', async () => {
    const { invoiceId } = await invoiceOfNewOrder();
    const before = totalCharges();
    const k = key('pay');
    await payAndCrash(invoiceId, k);
    await cluster.start('billing');
    await eventually(async () => ((await billingState(invoiceId)).invoice === 'PAID' ? true : undefined), { timeoutMs: 20_000 });
    expect(await billingState(invoiceId)).toEqual(PAID_ONCE);
    // A late retry with the first key replays the same payment.
    const late = await pay(invoiceId, k);
    expect(late.data?.payInvoice?.status).toBe('SUCCEEDED');
    expect(totalCharges() - before).toBe(1);
    expect(await billingState(invoiceId)).toEqual(PAID_ONCE);
  }, 300_000);

  it("the provider's answer lost past billing's timeout: SERVICE_UNAVAILABLE, then the same-key retry finds that one charge", async () => {
    const { invoiceId } = await invoiceOfNewOrder();
    await cluster.stop('billing');
    await cluster.start('billing', 0, { PAYMENT_RECONCILE_AFTER_MS: '600000' });
    const before = totalCharges();
    const k = key('pay');
    provider.delayAnswers(6_000);
    let first;
    try {
      first = await pay(invoiceId, k);
    } finally {
      provider.delayAnswers(0);
    }
    expect(first.errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
    expect(totalCharges() - before).toBe(1);
    expect(await billingState(invoiceId)).toEqual({ invoice: 'OPEN', payments: ['PENDING'], invoicePaidEvents: 0 });
    const retry = await pay(invoiceId, k);
    expect(retry.data?.payInvoice).toMatchObject({ status: 'SUCCEEDED', invoice: { status: 'PAID' } });
    expect(totalCharges() - before).toBe(1);
    expect(await billingState(invoiceId)).toEqual(PAID_ONCE);
  }, 300_000);
});
