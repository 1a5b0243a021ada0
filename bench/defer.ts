import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type postgres from 'postgres';
import type { LocalKeys } from '../platform/local-env.js';
import { ROOT } from '../platform/paths.js';
import { readMultipart } from '../test/support/multipart-reader.js';
import { startBenchSupergraph } from './bench-supergraph.js';
import type { BenchSupergraph } from './bench-supergraph.js';
import { createUserTokenSigner } from './user-tokens.js';

/**
 * `npm run bench:defer`: time to the first and to the last payload of the order page, with its
 * invoice (billing) deferred, against the same query without @defer, through the real gateway.
 * Billing is slowed by a fixed delay: before each request an exclusive lock is taken on billing's
 * invoices table, released BENCH_DEFER_DELAY_MS after the request was sent, so every invoice read
 * waits that long (the orders and catalog parts do not). Also run with billing at full speed, to
 * show what executing the plan in parts costs. Each mode alternates request by request.
 */
const ITERATIONS = Number(process.env.BENCH_DEFER_ITERATIONS ?? 30);
const DELAY_MS = Number(process.env.BENCH_DEFER_DELAY_MS ?? 500);
const ITEMS = 5;

const body = (defer: boolean) => `query OrderPage($id: ID!) {
  order(id: $id) {
    number status total { amountCents currency } createdAt
    customer { name }
    items { quantity product { name price { amountCents } } }
    ${defer ? '... @defer(label: "invoice") {' : ''} invoice { status payments { status amount { amountCents } } } ${defer ? '}' : ''}
  }
}`;

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const fmt = (xs: number[]) => `p50 ${percentile(xs, 50).toFixed(1)} ms, p90 ${percentile(xs, 90).toFixed(1)} ms`;

async function main() {
  const { keys, supergraph, sql, close } = await startBenchSupergraph({ pgPrefix: 'bench-defer-pg-', eventNamespace: 'bench-defer:' });
  try {
    const { orderId, token } = await seed(sql, keys);
    const send = (defer: boolean) =>
      fetch(supergraph.gatewayUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'multipart/mixed;deferSpec=20220824,application/json;q=0.9',
          authorization: `Bearer ${token}`,
        },
        body: JSON.stringify({ query: body(defer), variables: { id: orderId } }),
      });
    /** Milliseconds from sending to the first and to the last payload (one JSON body counts as both). */
    const once = async (defer: boolean, delay: number) => {
      const lock = delay > 0 ? await lockInvoices(sql.billing) : undefined;
      const started = performance.now();
      const timer = lock && setTimeout(lock.release, delay);
      const res = await send(defer);
      let first: number;
      let last: number;
      if (res.headers.get('content-type')?.startsWith('multipart/mixed')) {
        const times: number[] = [];
        for await (const part of readMultipart(res)) {
          if (part.part.errors?.length || part.part.incremental?.some((i: any) => i.errors)) throw new Error(JSON.stringify(part.part));
          times.push(part.at - started);
        }
        [first, last] = [times[0]!, times.at(-1)!];
      } else {
        const json = (await res.json()) as { errors?: unknown };
        if (json.errors) throw new Error(JSON.stringify(json.errors));
        first = last = performance.now() - started;
      }
      clearTimeout(timer);
      lock?.release();
      await lock?.done;
      return { first, last };
    };

    const results: Record<string, { first: number[]; last: number[] }> = {};
    for (const delay of [0, DELAY_MS]) {
      for (let i = 0; i < 3; i++) await once(true, delay).then(() => once(false, delay)); // warm-up: plans, pools, JIT
      for (const mode of ['deferred', 'not deferred']) results[`${mode}, billing +${delay} ms`] = { first: [], last: [] };
      for (let i = 0; i < ITERATIONS; i++) {
        for (const defer of i % 2 ? [true, false] : [false, true]) {
          const r = await once(defer, delay);
          const entry = results[`${defer ? 'deferred' : 'not deferred'}, billing +${delay} ms`]!;
          entry.first.push(r.first);
          entry.last.push(r.last);
        }
      }
    }
    const lines = [
      `@defer order page (${ITEMS} items, invoice deferred), ${ITERATIONS} requests per row, one at a time, ${os.cpus().length} CPUs`,
      '',
      '| query | billing | first payload | last payload |',
      '| --- | --- | --- | --- |',
      ...Object.entries(results).map(([name, r]) => {
        const [mode, billing] = name.split(', ');
        return `| ${mode} | ${billing!.replace('billing ', '')} | ${fmt(r.first)} | ${fmt(r.last)} |`;
      }),
    ];
    console.log(lines.join('\n'));
    await mkdir(path.join(ROOT, 'bench/results'), { recursive: true });
    await writeFile(
      path.join(ROOT, 'bench/results/defer.json'),
      JSON.stringify({ at: new Date().toISOString(), iterations: ITERATIONS, delayMs: DELAY_MS, results }, null, 2),
    );
  } finally {
    await close();
  }
}

/** A customer, one order of ITEMS products, its invoice and a payment, straight into the databases; a token minted with the users key. */
async function seed(sql: BenchSupergraph['sql'], keys: LocalKeys) {
  const [user] =
    await sql.users`insert into users (email, name, role, password_hash) values ('defer@bench.test', 'Defer Bench', 'CUSTOMER', 'x') returning id`;
  const [category] = await sql.catalog`insert into categories (slug, name) values ('bench', 'Bench') returning id`;
  const products = await sql.catalog`insert into products (sku, name, description, price_cents, currency, category_id, stock, weight_grams)
    select 'DEFER-' || g, 'Bench item ' || g, 'For measuring', 1000 + g, 'USD', ${category!.id}, 1000, 500 from generate_series(1, ${ITEMS}) g returning id`;
  const [order] =
    await sql.orders`insert into orders (customer_id, status, total_cents, currency) values (${user!.id}, 'PAID', 5015, 'USD') returning id`;
  await sql.orders`insert into order_items (order_id, product_id, quantity, unit_price_cents, currency, position)
    select ${order!.id}, unnest(${products.map((p) => p.id)}::uuid[]), 1, 1003, 'USD', generate_series(0, ${ITEMS - 1})`;
  const [invoice] = await sql.billing`insert into invoices (order_id, customer_id, amount_cents, currency, status, paid_at)
    values (${order!.id}, ${user!.id}, 5015, 'USD', 'PAID', now()) returning id`;
  await sql.billing`insert into payments (invoice_id, amount_cents, currency, status, method, provider_ref) values (${invoice!.id}, 5015, 'USD', 'SUCCEEDED', 'Visa •••• 4242', 'ch_bench')`;
  const token = await (await createUserTokenSigner(keys))(user!.id, 'CUSTOMER', '1h');
  return { orderId: order!.id as string, token };
}

/** An exclusive lock on billing's invoices table, held until release(). */
async function lockInvoices(billing: postgres.Sql) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let locked!: () => void;
  const held = new Promise<void>((r) => (locked = r));
  const done = billing.begin(async (tx) => {
    await tx`LOCK TABLE invoices IN ACCESS EXCLUSIVE MODE`;
    locked();
    await released;
  });
  await held;
  return { release: () => release(), done };
}

await main();
