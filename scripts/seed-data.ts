import { createHash } from 'node:crypto';
import postgres from 'postgres';
import type { Subgraph } from '../platform/migrate.js';
import { hashPassword } from '../subgraphs/users/passwords.js';

/**
 * The deterministic demo data set: the same ids, names, prices and orders on every machine.
 * Rows go in as multi-row INSERTs of 1,000 (one round trip each), straight into each service's
 * own database, as a restore would.
 */
export const SEED_ACCOUNTS = {
  admin: { email: 'admin@example.com', password: 'admin-password-1', name: 'Grace Admin' },
  customer: { email: 'ada@example.com', password: 'customer-password-1', name: 'Ada Lovelace' },
};

export interface SeedSize {
  users: number;
  products: number;
  categories: number;
  orders: number;
}

export const DEMO_SIZE: SeedSize = { users: 1_000, products: 500, categories: 12, orders: 5_000 };

/** A stable UUID (v4 layout) for the n-th row of a kind. */
export function seedId(kind: string, n: number): string {
  const h = createHash('sha1').update(`${kind}:${n}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** mulberry32: a small seeded PRNG, so "random" data is the same on every run. */
export function prng(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CATEGORY_NAMES = [
  'Coffee',
  'Tea',
  'Kettles',
  'Mugs',
  'Grinders',
  'Brewers',
  'Filters',
  'Scales',
  'Storage',
  'Books',
  'Cleaning',
  'Gifts',
  'Spares',
  'Outdoor',
  'Bundles',
  'Accessories',
];
const ADJECTIVES = [
  'Classic',
  'Nordic',
  'Copper',
  'Stoneware',
  'Travel',
  'Barista',
  'Compact',
  'Ceramic',
  'Glass',
  'Bamboo',
  'Matte',
  'Vintage',
];
const NOUNS = ['kettle', 'mug', 'grinder', 'dripper', 'scale', 'canister', 'tumbler', 'press', 'carafe', 'filter', 'spoon', 'tray'];
const STATUSES = ['PENDING_PAYMENT', 'PAID', 'PAID', 'PAID', 'PAID', 'SHIPPED', 'SHIPPED', 'DELIVERED', 'DELIVERED', 'CANCELLED'] as const;
const BASE_TIME = Date.UTC(2026, 0, 1);

async function insertChunks(sql: postgres.Sql, table: string, rows: Record<string, unknown>[]) {
  for (let i = 0; i < rows.length; i += 1000) {
    const chunk = rows.slice(i, i + 1000);
    await sql`insert into ${sql(table)} ${sql(chunk as never)}`;
  }
}

// eslint-disable-next-line max-lines-per-function -- the seed script, read top to bottom, one table after another
export async function seed(urls: Record<Subgraph, string>, size: SeedSize = DEMO_SIZE): Promise<string> {
  const rand = prng(42);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const clients = Object.fromEntries(Object.entries(urls).map(([k, u]) => [k, postgres(u, { max: 1, onnotice: () => {} })])) as Record<
    Subgraph,
    postgres.Sql
  >;
  try {
    // Users: two documented accounts, then customers sharing one precomputed hash (hashing 1,000
    // passwords with scrypt would take a minute; each is `customer-password-1`).
    const sharedHash = await hashPassword(SEED_ACCOUNTS.customer.password);
    const users = [
      {
        id: seedId('user', 0),
        email: SEED_ACCOUNTS.admin.email,
        name: SEED_ACCOUNTS.admin.name,
        role: 'ADMIN',
        password_hash: await hashPassword(SEED_ACCOUNTS.admin.password),
        created_at: new Date(BASE_TIME),
      },
      {
        id: seedId('user', 1),
        email: SEED_ACCOUNTS.customer.email,
        name: SEED_ACCOUNTS.customer.name,
        role: 'CUSTOMER',
        password_hash: sharedHash,
        created_at: new Date(BASE_TIME + 60_000),
      },
    ];
    for (let i = 2; i < size.users; i++) {
      users.push({
        id: seedId('user', i),
        email: `customer${i}@example.com`,
        name: `Customer ${i}`,
        role: 'CUSTOMER',
        password_hash: sharedHash,
        created_at: new Date(BASE_TIME + i * 60_000),
      });
    }
    await insertChunks(clients.users, 'users', users);

    const categories = Array.from({ length: size.categories }, (_, i) => {
      const name =
        CATEGORY_NAMES[i % CATEGORY_NAMES.length]! + (i >= CATEGORY_NAMES.length ? ` ${Math.floor(i / CATEGORY_NAMES.length) + 1}` : '');
      return { id: seedId('category', i), slug: name.toLowerCase().replace(/\s+/g, '-'), name, created_at: new Date(BASE_TIME) };
    });
    await insertChunks(clients.catalog, 'categories', categories);
    const products = Array.from({ length: size.products }, (_, i) => {
      const name = `${pick(ADJECTIVES)} ${pick(NOUNS)} ${i + 1}`;
      return {
        id: seedId('product', i),
        sku: `SKU-${String(i + 1).padStart(6, '0')}`,
        name,
        description: `${name}: a ${pick(['sturdy', 'elegant', 'lightweight', 'handmade'])} piece for ${pick(['home', 'office', 'travel', 'the cafe'])}.`,
        price_cents: 299 + Math.floor(rand() * 197) * 100,
        currency: 'USD',
        category_id: categories[i % categories.length]!.id,
        stock: i % 25 === 0 ? 0 : 20 + Math.floor(rand() * 200),
        weight_grams: 100 + Math.floor(rand() * 3000),
        created_at: new Date(BASE_TIME + i * 3_600_000),
        updated_at: new Date(BASE_TIME + i * 3_600_000),
      };
    });
    await insertChunks(clients.catalog, 'products', products);

    const orders: Record<string, unknown>[] = [];
    const items: Record<string, unknown>[] = [];
    const reservations: Record<string, unknown>[] = [];
    const invoices: Record<string, unknown>[] = [];
    const payments: Record<string, unknown>[] = [];
    for (let i = 0; i < size.orders; i++) {
      // Ada (user 1) gets every 400th order so her account page has a mix of statuses.
      const customer = i % 400 === 0 ? users[1]! : users[2 + Math.floor(rand() * (size.users - 2))]!;
      const status = pick(STATUSES);
      const createdAt = new Date(BASE_TIME + 86_400_000 + i * 90_000);
      const id = seedId('order', i);
      const lineCount = 1 + Math.floor(rand() * 5);
      const chosen = new Set<number>();
      while (chosen.size < lineCount) chosen.add(Math.floor(rand() * products.length));
      let total = 0;
      [...chosen].forEach((p, position) => {
        const product = products[p]!;
        const quantity = 1 + Math.floor(rand() * 3);
        total += quantity * product.price_cents;
        items.push({ order_id: id, product_id: product.id, quantity, unit_price_cents: product.price_cents, currency: 'USD', position });
        reservations.push({
          reservation_id: id,
          product_id: product.id,
          quantity,
          unit_price_cents: product.price_cents,
          currency: 'USD',
          released_at: status === 'CANCELLED' ? createdAt : null,
          created_at: createdAt,
        });
      });
      orders.push({
        id,
        number: 100_001 + i,
        customer_id: customer.id,
        status,
        total_cents: total,
        currency: 'USD',
        created_at: createdAt,
        updated_at: createdAt,
      });
      const invoiceId = seedId('invoice', i);
      const paid = status !== 'PENDING_PAYMENT' && status !== 'CANCELLED';
      invoices.push({
        id: invoiceId,
        order_id: id,
        customer_id: customer.id,
        amount_cents: total,
        currency: 'USD',
        status: paid ? 'PAID' : status === 'CANCELLED' ? 'VOID' : 'OPEN',
        issued_at: createdAt,
        paid_at: paid ? new Date(createdAt.getTime() + 600_000) : null,
        updated_at: createdAt,
      });
      if (paid) {
        payments.push({
          id: seedId('payment', i),
          invoice_id: invoiceId,
          amount_cents: total,
          currency: 'USD',
          status: 'SUCCEEDED',
          method: 'Visa •••• 4242',
          provider_ref: `seed_${i}`,
          created_at: new Date(createdAt.getTime() + 600_000),
        });
      }
    }
    await insertChunks(clients.orders, 'orders', orders);
    await insertChunks(clients.orders, 'order_items', items);
    // Continue the human-friendly numbering after the seeded orders.
    await clients.orders.unsafe(`select setval('order_number_seq', ${100_000 + size.orders})`);
    await insertChunks(clients.catalog, 'stock_reservations', reservations);
    await insertChunks(clients.billing, 'invoices', invoices);
    await insertChunks(clients.billing, 'payments', payments);
    await Promise.all(Object.values(clients).map((c) => c`analyze`));
    return `${users.length} users, ${products.length} products in ${categories.length} categories, ${orders.length} orders with ${items.length} items, ${invoices.length} invoices, ${payments.length} payments`;
  } finally {
    await Promise.all(Object.values(clients).map((c) => c.end()));
  }
}

/** Empties every table of the four databases (migrations stay applied): `seed -- --force` starts from here. */
export async function resetData(urls: Record<Subgraph, string>): Promise<void> {
  for (const url of Object.values(urls)) {
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const tables = await sql<
        { name: string }[]
      >`select format('%I.%I', schemaname, tablename) as name from pg_tables where schemaname = 'public'`;
      if (tables.length) await sql.unsafe(`truncate table ${tables.map((t) => t.name).join(', ')} restart identity cascade`);
    } finally {
      await sql.end();
    }
  }
}

/** Seeds only a database with no users yet (so `npm start` never duplicates demo data). */
export async function seedIfEmpty(urls: Record<Subgraph, string>): Promise<string | null> {
  const sql = postgres(urls.users, { max: 1, onnotice: () => {} });
  try {
    const [{ count }] = (await sql`select count(*)::int as count from users`) as unknown as [{ count: number }];
    if (count > 0) return null;
  } finally {
    await sql.end();
  }
  return seed(urls);
}
