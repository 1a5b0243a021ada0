import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlStatementCounter } from '../platform/db.js';
import type { Subgraph } from '../platform/migrate.js';
import { ACCOUNT_PAGE } from './support/operations.js';
import { startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/**
 * The hot queries use indexes: the statements the services really send (captured in the driver)
 * are EXPLAINed on tables large enough that a full scan would lose, and no plan may scan a large
 * table sequentially.
 */
let stack: Stack;
let customer: TestUser;
let admin: TestUser;
let categoryId: string;
const LARGE = new Set(['products', 'orders', 'order_items', 'invoices', 'payments', 'users', 'stock_reservations']);

beforeAll(async () => {
  stack = await startStack();
  [customer, admin] = await Promise.all([stack.customer('Indexed'), stack.admin()]);
  const cats = await stack.sql.catalog`insert into categories (slug, name)
    select 'bulk-' || g, 'Bulk ' || g from generate_series(1, 20) g returning id`;
  categoryId = cats[0]!.id;
  await stack.sql.catalog`insert into products (sku, name, description, price_cents, currency, category_id, stock, weight_grams, created_at)
    select 'BULK-' || g, 'Bulk product ' || g, 'Description of bulk product number ' || g, (g * 37) % 20000, 'USD',
      (string_to_array(${cats.map((c) => c.id).join(',')}, ',')::uuid[])[1 + g % 20], g % 50, 100 + g % 3000, now() - (g || ' seconds')::interval
    from generate_series(1, 20000) g`;
  await stack.sql.users`insert into users (email, name, role, password_hash, created_at)
    select 'bulk' || g || '@example.test', 'Bulk ' || g, 'CUSTOMER', 'x', now() - (g || ' minutes')::interval from generate_series(1, 5000) g`;
  const products = await stack.sql.catalog`select id, price_cents from products order by sku limit 300`;
  const customers = [customer.id, ...(await stack.sql.users`select id from users limit 2000`).map((u) => u.id)];
  await stack.sql.orders`insert into orders (customer_id, status, total_cents, currency, created_at, updated_at)
    select (string_to_array(${customers.join(',')}, ',')::uuid[])[1 + (g % ${customers.length})], 'PAID', 1000, 'USD', now() - (g || ' seconds')::interval, now()
    from generate_series(1, 40000) g`;
  await stack.sql.orders`insert into order_items (order_id, product_id, quantity, unit_price_cents, currency, position)
    select o.id, (string_to_array(${products.map((p) => p.id).join(',')}, ',')::uuid[])[1 + ((o.number * 7 + k) % 300)], 1, 1000, 'USD', k
    from orders o cross join generate_series(0, 2) k`;
  const orders = await stack.sql.orders`select id, customer_id from orders`;
  for (let i = 0; i < orders.length; i += 5000) {
    const chunk = orders.slice(i, i + 5000);
    await stack.sql.billing`insert into invoices (order_id, customer_id, amount_cents, currency, status, issued_at)
      select o, c, 1000, 'USD', 'PAID', now() from unnest(string_to_array(${chunk.map((o) => o.id).join(',')}, ',')::uuid[], string_to_array(${chunk.map((o) => o.customer_id).join(',')}, ',')::uuid[]) as t(o, c)`;
  }
  await stack.sql.billing`insert into payments (invoice_id, amount_cents, currency, status, method, provider_ref)
    select id, 1000, 'USD', 'SUCCEEDED', 'Visa •••• 4242', 'bulk' from invoices`;
  await Promise.all((['catalog', 'users', 'orders', 'billing'] as Subgraph[]).map((s) => stack.sql[s]`analyze`));
}, 180_000);
afterAll(() => stack?.close());

async function capture(run: () => Promise<unknown>) {
  const statements: { application: string; query: string; params: unknown[] }[] = [];
  sqlStatementCounter.listener = (s) => statements.push(s);
  try {
    await run();
  } finally {
    sqlStatementCounter.listener = undefined;
  }
  return statements.filter((s) => /^\s*select/i.test(s.query) && !/^\s*select 1\b/i.test(s.query));
}

function scans(plan: any, found: { node: string; relation?: string }[] = []) {
  found.push({ node: plan['Node Type'], relation: plan['Relation Name'] });
  for (const child of plan.Plans ?? []) scans(child, found);
  return found;
}

async function expectIndexed(name: string, run: () => Promise<unknown>) {
  const statements = await capture(run);
  expect(statements.length, `${name}: statements captured`).toBeGreaterThan(0);
  for (const s of statements) {
    const [row] = await stack.sql[s.application as Subgraph].unsafe(`explain (format json) ${s.query}`, s.params as never[]);
    const nodes = scans((row as any)['QUERY PLAN'][0].Plan);
    const seq = nodes.filter((n) => n.node === 'Seq Scan' && LARGE.has(n.relation ?? ''));
    expect(seq, `${name}: ${s.query}`).toEqual([]);
  }
}

describe('hot queries use indexes', () => {
  it('storefront: a category page, newest first, and the next page', async () => {
    const q = `query($c: ID!, $a: String) { products(filter: { categoryId: $c }, first: 20, after: $a) {
      edges { node { name price { amountCents } stock category { name } shippingEstimate { amountCents } } } pageInfo { endCursor } } }`;
    let cursor: string | null = null;
    await expectIndexed('storefront', async () => {
      const res = await stack.gql(q, { c: categoryId, a: null });
      cursor = res.data.products.pageInfo.endCursor;
    });
    await expectIndexed('storefront page 2', () => stack.gql(q, { c: categoryId, a: cursor }));
  });

  it('search by text, ordering by price and by name, lookup by SKU', async () => {
    await expectIndexed('search', () => stack.gql(`{ products(filter: { search: "product 1234" }) { edges { node { id } } } }`));
    await expectIndexed('price', () => stack.gql(`{ products(orderBy: PRICE_ASC, first: 20) { edges { node { id } } } }`));
    await expectIndexed('name', () => stack.gql(`{ products(orderBy: NAME_ASC, first: 20) { edges { node { id } } } }`));
    await expectIndexed('sku', () => stack.gql(`{ productBySku(sku: "BULK-777") { id } }`));
  });

  it('the account page, across every subgraph', async () => {
    await expectIndexed('account page', async () => {
      const res = await stack.gql(ACCOUNT_PAGE, { n: 20 }, { token: customer.token });
      expect(res.errors).toBeUndefined();
      expect(res.data?.me?.orders.edges).toHaveLength(20);
    });
  });

  it("admin lists: users newest first, a customer's invoices", async () => {
    await expectIndexed('users', () => stack.gql(`{ users(first: 20) { edges { node { id } } } }`, {}, { token: admin.token }));
    await expectIndexed('invoices', () =>
      stack.gql(
        `query($id: ID!) { user(id: $id) { invoices(first: 20) { edges { node { id } } } } }`,
        { id: customer.id },
        { token: admin.token },
      ),
    );
  });
});
