import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlStatementCounter } from '../platform/db.js';
import { ACCOUNT_PAGE, PAY_INVOICE, PLACE_ORDER } from './support/operations.js';
import { startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

let stack: Stack;
let customer: TestUser;

beforeAll(async () => {
  // About what reaches the subgraphs: the gateway's caches (test/caches.test.ts) would answer in their place.
  stack = await startStack({ extra: { gateway: { ENTITY_CACHE_ENABLED: 'false', RESPONSE_CACHE_ENABLED: 'false' } } });
  customer = await stack.customer('Ada');
  const categories = await Promise.all([stack.category('A'), stack.category('B'), stack.category('C')]);
  const products: { id: string }[] = [];
  for (let i = 0; i < 9; i++)
    products.push(await stack.product({ categoryId: categories[i % 3]!.id, stock: 1000, priceCents: 1000 + i * 1000 }));
  for (let i = 0; i < 50; i++) {
    const items = [0, 1, 2].map((k) => ({ productId: products[(i + k * 3) % 9]!.id, quantity: 1 + k }));
    const res = await stack.gql(PLACE_ORDER, { input: { items, idempotencyKey: `account-page-${i}` } }, { token: customer.token });
    expect(res.errors).toBeUndefined();
  }
  // Some invoices paid, so payments lists are not all empty.
  const invoices = await stack.sql.billing`select id from invoices where customer_id = ${customer.id} order by issued_at limit 10`;
  for (const [k, inv] of invoices.entries()) {
    const res = await stack.gql(
      PAY_INVOICE,
      { input: { invoiceId: inv.id, cardToken: k % 2 ? 'tok_visa' : 'tok_chargeDeclined', idempotencyKey: `pay-${inv.id}` } },
      { token: customer.token },
    );
    expect(res.errors?.[0]?.extensions?.code ?? 'OK').toMatch(/OK|PAYMENT_DECLINED/);
  }
}, 120_000);
afterAll(() => stack?.close());

async function statementsFor(n: number) {
  const before = sqlStatementCounter.total;
  const res = await stack.gql(ACCOUNT_PAGE, { n }, { token: customer.token });
  const statements = sqlStatementCounter.total - before;
  expect(res.errors).toBeUndefined();
  // No errors (asserted above): `me` is there; its type comes from the typed AccountPage document.
  const me = res.data!.me!;
  return { statements, orders: me.orders.edges.length, me };
}

describe('DataLoader batching', () => {
  it('AccountPage costs the same small number of SQL statements for 5 and for 50 orders', async () => {
    const five = await statementsFor(5);
    const fifty = await statementsFor(50);
    expect(five.orders).toBe(5);
    expect(fifty.orders).toBe(50);
    // users: me, customer | orders: orders page, items | catalog: products, categories | billing: invoices, payments
    expect(fifty.statements).toBe(8);
    expect(five.statements).toBe(fifty.statements);
    console.log(`AccountPage SQL statements: first=5 -> ${five.statements}, first=50 -> ${fifty.statements}`);
  });

  it('batched results come back in the right place (every nested field matches its own row)', async () => {
    const { me } = await statementsFor(50);
    const orders = me.orders.edges.map((e) => e.node);
    const numbers = orders.map((o) => o.number);
    expect(numbers).toEqual([...numbers].sort((a: number, b: number) => b - a));
    for (const order of orders) {
      expect(order.customer.name).toBe('Ada');
      const sum = order.items.reduce((s, it) => s + it.quantity * it.product.price.amountCents, 0);
      expect(order.total.amountCents).toBe(sum);
      expect(order.invoice).not.toBeNull();
      for (const item of order.items) {
        const expected = item.product.price.amountCents >= 5000 ? 0 : 499 + 50 * Math.ceil(750 / 500);
        expect(item.product.shippingEstimate.amountCents).toBe(expected);
      }
    }
    const paid = orders.filter((o) => o.invoice?.status === 'PAID');
    expect(paid.length).toBe(5);
    for (const o of paid) expect(o.invoice?.payments.map((p) => p.status)).toEqual(['SUCCEEDED']);
  });
});
