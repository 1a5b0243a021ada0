import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import postgres from 'postgres';
import type { Subgraph } from '../platform/migrate.js';
import { seedId } from '../scripts/seed-data.js';
import { hashPassword } from '../subgraphs/users/passwords.js';
import { prng } from '../scripts/seed-data.js';

/**
 * The benchmark's data set: deterministic (seeded PRNG, stable ids from `seedId`) and at scale,
 * streamed into each service's database with COPY (text format), the fastest path Postgres has.
 * Stock reservations are not loaded: nothing the benchmark reads uses them.
 */
export interface BenchSize {
  users: number;
  products: number;
  categories: number;
  orders: number;
}

export const BENCH_SIZE: BenchSize = { users: 50_000, products: 5_000, categories: 50, orders: 200_000 };

const BASE = Date.UTC(2025, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString();
const STATUSES = ['PENDING_PAYMENT', 'PAID', 'PAID', 'PAID', 'SHIPPED', 'SHIPPED', 'DELIVERED', 'DELIVERED', 'DELIVERED', 'CANCELLED'];
const ADJECTIVES = ['Classic', 'Nordic', 'Copper', 'Stoneware', 'Travel', 'Barista', 'Compact', 'Ceramic', 'Glass', 'Bamboo'];
const NOUNS = ['kettle', 'mug', 'grinder', 'dripper', 'scale', 'canister', 'tumbler', 'press', 'carafe', 'filter'];

/** Batches rows into chunks of text lines, so COPY gets large writes rather than one per row. */
function* lines(rows: Iterable<unknown[]>): Generator<string> {
  let buf = '';
  let n = 0;
  for (const row of rows) {
    buf += `${row.map((v) => (v === null ? '\\N' : String(v as string | number | boolean))).join('\t')}\n`;
    if (++n % 2000 === 0) {
      yield buf;
      buf = '';
    }
  }
  if (buf) yield buf;
}

async function copy(sql: postgres.Sql, table: string, columns: string[], rows: Iterable<unknown[]>) {
  const stream = await sql.unsafe(`copy ${table} (${columns.join(', ')}) from stdin`).writable();
  await pipeline(Readable.from(lines(rows)), stream);
}

export interface BenchData {
  users: { id: string; role: 'ADMIN' | 'CUSTOMER' }[];
  categoryIds: string[];
  products: { id: string; sku: string; priceCents: number }[];
  summary: string;
}

export async function loadBenchData(urls: Record<Subgraph, string>, size: BenchSize = BENCH_SIZE): Promise<BenchData> {
  const rand = prng(7);
  const db = Object.fromEntries(Object.entries(urls).map(([k, u]) => [k, postgres(u, { max: 1, onnotice: () => {} })])) as Record<
    Subgraph,
    postgres.Sql
  >;
  try {
    const hash = await hashPassword('bench-password-1');
    const users: { id: string; role: 'ADMIN' | 'CUSTOMER' }[] = Array.from({ length: size.users }, (_, i) => ({
      id: seedId('bench-user', i),
      role: i === 0 ? 'ADMIN' : 'CUSTOMER',
    }));
    const categoryIds = Array.from({ length: size.categories }, (_, i) => seedId('bench-category', i));
    const products = Array.from({ length: size.products }, (_, i) => ({
      id: seedId('bench-product', i),
      sku: `BSKU-${String(i + 1).padStart(6, '0')}`,
      priceCents: 299 + Math.floor(rand() * 197) * 100,
    }));

    const loads: Promise<void>[] = [];
    loads.push(
      copy(
        db.users,
        'users',
        ['id', 'email', 'name', 'role', 'password_hash', 'created_at'],
        users.map((u, i) => [u.id, `bench${i}@example.com`, `Bench User ${i}`, u.role, hash, iso(BASE + i * 60_000)]),
      ),
    );
    loads.push(
      (async () => {
        await copy(
          db.catalog,
          'categories',
          ['id', 'slug', 'name', 'created_at'],
          categoryIds.map((id, i) => [id, `category-${i}`, `Category ${i}`, iso(BASE)]),
        );
        await copy(
          db.catalog,
          'products',
          [
            'id',
            'sku',
            'name',
            'description',
            'price_cents',
            'currency',
            'category_id',
            'stock',
            'weight_grams',
            'created_at',
            'updated_at',
          ],
          products.map((p, i) => {
            const name = `${ADJECTIVES[i % ADJECTIVES.length]} ${NOUNS[(i * 7) % NOUNS.length]} ${i + 1}`;
            // Effectively unlimited stock: the checkout workload must never run out mid-run.
            return [
              p.id,
              p.sku,
              name,
              `${name}: made for benchmarks.`,
              p.priceCents,
              'USD',
              categoryIds[i % categoryIds.length],
              1_000_000,
              100 + (i % 3000),
              iso(BASE + i * 1000),
              iso(BASE + i * 1000),
            ];
          }),
        );
      })(),
    );

    // Orders, their lines, invoices and payments, generated once in memory (~1.2M rows of text).
    const orders: unknown[][] = [];
    const items: unknown[][] = [];
    const invoices: unknown[][] = [];
    const payments: unknown[][] = [];
    for (let i = 0; i < size.orders; i++) {
      const customer = users[1 + Math.floor(rand() * (size.users - 1))]!;
      const status = STATUSES[Math.floor(rand() * STATUSES.length)]!;
      const at = BASE + 86_400_000 + i * 60_000;
      const id = seedId('bench-order', i);
      const lineCount = 2 + Math.floor(rand() * 3); // 2..4, ~3 on average
      const chosen = new Set<number>();
      while (chosen.size < lineCount) chosen.add(Math.floor(rand() * products.length));
      let total = 0;
      [...chosen].forEach((p, position) => {
        const quantity = 1 + Math.floor(rand() * 3);
        total += quantity * products[p]!.priceCents;
        items.push([id, products[p]!.id, quantity, products[p]!.priceCents, 'USD', position]);
      });
      orders.push([id, 1_000_001 + i, customer.id, status, total, 'USD', iso(at), iso(at)]);
      const invoiceId = seedId('bench-invoice', i);
      const paid = status !== 'PENDING_PAYMENT' && status !== 'CANCELLED';
      invoices.push([
        invoiceId,
        id,
        customer.id,
        total,
        'USD',
        paid ? 'PAID' : status === 'CANCELLED' ? 'VOID' : 'OPEN',
        iso(at),
        paid ? iso(at + 600_000) : null,
        iso(at),
      ]);
      if (paid)
        payments.push([
          seedId('bench-payment', i),
          invoiceId,
          total,
          'USD',
          'SUCCEEDED',
          'Visa •••• 4242',
          `bench_${i}`,
          iso(at + 600_000),
        ]);
    }
    loads.push(
      (async () => {
        await copy(
          db.orders,
          'orders',
          ['id', 'number', 'customer_id', 'status', 'total_cents', 'currency', 'created_at', 'updated_at'],
          orders,
        );
        await copy(db.orders, 'order_items', ['order_id', 'product_id', 'quantity', 'unit_price_cents', 'currency', 'position'], items);
        await db.orders.unsafe(`select setval('order_number_seq', ${1_000_000 + size.orders})`);
      })(),
    );
    loads.push(
      (async () => {
        await copy(
          db.billing,
          'invoices',
          ['id', 'order_id', 'customer_id', 'amount_cents', 'currency', 'status', 'issued_at', 'paid_at', 'updated_at'],
          invoices,
        );
        await copy(
          db.billing,
          'payments',
          ['id', 'invoice_id', 'amount_cents', 'currency', 'status', 'method', 'provider_ref', 'created_at'],
          payments,
        );
      })(),
    );
    await Promise.all(loads);
    await Promise.all(Object.values(db).map((c) => c`analyze`));
    return {
      users,
      categoryIds,
      products,
      summary: `${users.length} users, ${products.length} products in ${categoryIds.length} categories, ${orders.length} orders with ${items.length} items, ${invoices.length} invoices, ${payments.length} payments`,
    };
  } finally {
    await Promise.all(Object.values(db).map((c) => c.end()));
  }
}
