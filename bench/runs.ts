import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { ROOT } from '../platform/paths.js';
import type { LoadResult, MixedResult } from './load-worker.js';
import { cacheCounters, hitRate, measure, perSubgraphHits } from './measure.js';
import { HIT_MARKER } from './gateways.js';
import type { Measured } from './measure.js';
import { waitForOperation } from './processes.js';
import type { DataloaderRow, GatewayName, MixedRun, Run } from './report.js';
import { SETTINGS } from './settings.js';
import type { Stack } from './stack.js';
import { analyseStaleness } from './staleness.js';
import type { StockChange } from './staleness.js';
import { STOREFRONT_IDS, gatewaysOf, internalHeader } from './workloads.js';
import type { HttpWorkload, Workloads } from './workloads.js';

/** The rotation of repetition `rep`: A B C, B C A, C A B, ... (no gateway always runs first). */
const rotation = <T>(xs: T[], rep: number) => xs.map((_, i) => xs[(i + rep) % xs.length]!);

export async function runHttpWorkload(stack: Stack, w: Workloads, name: string, workload: HttpWorkload): Promise<Run[]> {
  const runs: Run[] = [];
  for (let rep = 0; rep < SETTINGS.reps; rep++) {
    for (const g of rotation(gatewaysOf(stack), rep)) {
      const before = g === 'ours' ? await cacheCounters(stack.oursMetricsUrl) : null;
      const job = {
        weights: workload.weights,
        hitMarker: HIT_MARKER[g],
        kind: 'http',
        url: stack.urls[g],
        bodies: workload.bodies(g),
        auth: await w.authFor(g, workload.auth),
        connections: SETTINGS.connections,
        warmupS: SETTINGS.warmupS,
        durationS: SETTINGS.durationS,
        warmupPass: SETTINGS.warmupPass === 1 && workload.keys !== 'first-visit',
        ...(workload.keys === 'first-visit' ? { rotation: `${name}:${g}` } : {}),
      };
      const measured = await measure<LoadResult>(stack, g, job);
      const after = g === 'ours' ? await cacheCounters(stack.oursMetricsUrl) : null;
      runs.push(toRun(name, g, rep, measured, hitRate(before, after)));
      if (before && after) console.log(`  cache hit rates: ${perSubgraphHits(before, after)}`);
      logRun(runs.at(-1)!);
    }
  }
  return runs;
}

/** One run's figures; `oursHits` is ours' rate from its counters, a peer's comes from the hits its answers were marked with. */
function toRun(workload: string, gateway: GatewayName, rep: number, m: Measured<LoadResult>, oursHits: number | null): Run {
  const { result: r, cpu, rssMb } = m;
  const per = (k: string) => (r.count ? (cpu[k] ?? 0) / r.count : 0);
  const cpuPer = { gateway: per('gateway'), subgraphs: per('subgraphs'), postgres: per('postgres'), redis: per('redis'), total: 0 };
  cpuPer.total = cpuPer.gateway + cpuPer.subgraphs + cpuPer.postgres + cpuPer.redis;
  const hitRate = r.hits !== undefined ? (r.count ? r.hits / r.count : 0) : oursHits;
  return { workload, gateway, rep, rps: r.rps, p50: r.p50, p99: r.p99, failed: r.failed, count: r.count, cpuPer, hitRate, rssMb };
}

const logRun = (r: Run) =>
  console.log(
    `${r.workload} ${r.gateway} rep ${r.rep + 1}: ${r.rps.toFixed(1)}/s p50 ${r.p50.toFixed(0)} ms p99 ${r.p99.toFixed(0)} ms, ` +
      `CPU ms per unit gw ${r.cpuPer.gateway.toFixed(2)} sub ${r.cpuPer.subgraphs.toFixed(2)} pg ${r.cpuPer.postgres.toFixed(2)} redis ${r.cpuPer.redis.toFixed(2)} = ${r.cpuPer.total.toFixed(2)}, ` +
      `RSS ${r.rssMb?.toFixed(0)} MB, hits ${r.hitRate === null ? 'n.a.' : `${(r.hitRate * 100).toFixed(0)}%`} (${r.failed} failed; load ${os.loadavg()[0]!.toFixed(1)})`,
  );

export async function runCheckoutWorkload(stack: Stack, w: Workloads): Promise<Run[]> {
  const runs: Run[] = [];
  for (let rep = 0; rep < SETTINGS.reps; rep++) {
    for (const g of rotation(gatewaysOf(stack), rep)) {
      const job = {
        kind: 'checkout',
        url: stack.urls[g],
        auth: await w.authFor(g, w.checkoutUsers),
        productIds: stack.data.products.map((p) => p.id),
        concurrency: SETTINGS.checkoutConcurrency,
        warmupS: Math.min(SETTINGS.warmupS, 2),
        durationS: SETTINGS.durationS,
        runId: `${g}-${rep}-${randomUUID().slice(0, 8)}`,
      };
      runs.push(toRun('checkout', g, rep, await measure<LoadResult>(stack, g, job), null));
      logRun(runs.at(-1)!);
    }
  }
  return runs;
}

/** The max-age the schema gives Product.stock: no response may be staler than this. */
async function stockMaxAgeMs(): Promise<number> {
  const sdl = await readFile(path.join(ROOT, 'schema/catalog.graphql'), 'utf8');
  return Number(/\bstock: Int! @cacheControl\(maxAge: (\d+)\)/.exec(sdl)?.[1] ?? 30) * 1000;
}

/**
 * The ids of the products on the mixed workload's storefront pages, asked of the catalog subgraph
 * itself: listing them through a gateway would warm its cache before it is timed.
 */
async function productIdsOf(stack: Stack, w: Workloads, categories: string[]): Promise<string[]> {
  const query = 'query($c: ID!) { products(filter: {categoryId: $c}, first: 20) { edges { node { id } } } }';
  const productIds: string[] = [];
  for (const c of categories) {
    const res = await fetch(`${stack.subgraphUrls.catalog}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(await internalHeader(w, 'stock')) },
      body: JSON.stringify({ query, variables: { c } }),
    });
    const page = (await res.json()) as { data?: { products: { edges: { node: { id: string } }[] } } };
    if (!page.data?.products) throw new Error(`mixed: cannot list the products of a category: ${JSON.stringify(page).slice(0, 300)}`);
    productIds.push(...page.data.products.edges.map((e) => e.node.id));
  }
  return productIds;
}

/** Storefront reads of a few categories while checkouts buy the very products on those pages. */
export async function runMixedWorkload(stack: Stack, w: Workloads): Promise<MixedRun[]> {
  const { categoryIds } = stack.data;
  const step = Math.max(1, Math.floor(categoryIds.length / SETTINGS.mixedCategories));
  const categories = categoryIds.filter((_, i) => i % step === 0).slice(0, SETTINGS.mixedCategories);
  const bodies = categories.map((c) => JSON.stringify({ query: STOREFRONT_IDS, variables: { c } }));
  const productIds = await productIdsOf(stack, w, categories);
  const sql = postgres(stack.catalogUrl, { max: 1, onnotice: () => {} });
  const maxAgeMs = await stockMaxAgeMs();
  const runs: MixedRun[] = [];
  try {
    for (let rep = 0; rep < SETTINGS.reps; rep++) {
      for (const g of rotation(gatewaysOf(stack), rep)) {
        runs.push(await runMixedOnce({ stack, w, g, rep, bodies, productIds, sql, maxAgeMs }));
      }
    }
  } finally {
    await sql.end();
  }
  return runs;
}

interface MixedOnce {
  stack: Stack;
  w: Workloads;
  g: GatewayName;
  rep: number;
  bodies: string[];
  productIds: string[];
  sql: postgres.Sql;
  maxAgeMs: number;
}

/** One mixed run on one gateway; the staleness of its reads is judged against the outbox's stock changes. */
async function runMixedOnce({ stack, w, g, rep, bodies, productIds, sql, maxAgeMs }: MixedOnce): Promise<MixedRun> {
  const before = g === 'ours' ? await cacheCounters(stack.oursMetricsUrl) : null;
  const job = {
    kind: 'mixed',
    url: stack.urls[g],
    bodies,
    readAuth: await w.authFor(g, null),
    readers: SETTINGS.mixedReaders,
    hitMarker: HIT_MARKER[g],
    checkout: {
      url: stack.urls[g],
      auth: await w.authFor(g, w.checkoutUsers),
      productIds,
      concurrency: SETTINGS.checkoutConcurrency,
      runId: `mixed-${g}-${rep}-${randomUUID().slice(0, 8)}`,
    },
    warmupS: SETTINGS.warmupS,
    durationS: SETTINGS.durationS,
  };
  const measured = await measure<MixedResult>(stack, g, job);
  const { result } = measured;
  const after = g === 'ours' ? await cacheCounters(stack.oursMetricsUrl) : null;
  const hits = hitRate(before, after);
  if (before && after) console.log(`  cache hit rates: ${perSubgraphHits(before, after)}`);
  const changes = (
    await sql`select payload->>'productId' as "productId", (payload->>'stock')::int as stock, occurred_at as "occurredAt"
          from outbox where type = 'StockChanged' and payload->>'productId' = any(${productIds}) order by position`
  ).map((c) => ({ ...c, occurredAt: new Date(c.occurredAt).getTime() })) as unknown as StockChange[];
  const staleness = analyseStaleness(changes, result.seen, result.window, maxAgeMs);
  const run: MixedRun = {
    ...toRun('mixed', g, rep, { ...measured, result: result.reads }, hits),
    checkoutsPerS: result.checkouts.rps,
    checkoutsFailed: result.checkouts.failed,
    ...(result.checkouts.lastError ? { checkoutError: result.checkouts.lastError } : {}),
    staleness,
    maxAgeMs,
  };
  logRun(run);
  const s = staleness.stalenessMs;
  console.log(
    `  mixed ${g}: ${run.checkoutsPerS.toFixed(1)} checkouts/s; ${staleness.changes} stock changes, staleness p50 ${s?.p50.toFixed(0)} / p99 ${s?.p99.toFixed(0)} / max ${s?.max.toFixed(0)} ms, ${staleness.unobserved} unobserved; views stale > max-age: ${staleness.staleOverMaxAge}`,
  );
  return run;
}

const COUNTED_OPS = 50;

/**
 * SQL statements per account page, over COUNTED_OPS pages one at a time (one user each), read from
 * the subgraphs process's driver counter. A failed page sends less SQL than a served one, so failures
 * are counted and told: a count with failures in it is no true figure.
 */
async function countStatements(stack: Stack, body: string, tokens: string[]): Promise<{ perOp: number; failedOps: number }> {
  let failedOps = 0;
  const before = await stack.statements();
  for (let i = 0; i < COUNTED_OPS; i++) {
    const res = await fetch(stack.urls.ours!, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[i % tokens.length]}` },
      body,
    });
    const text = await res.text();
    if (!res.ok || text.includes('"errors"')) failedOps += 1;
  }
  const perOp = ((await stack.statements()) - before) / COUNTED_OPS;
  if (failedOps) console.error(`dataloader: ${failedOps} of ${COUNTED_OPS} counted account pages failed; statements/op undercounts`);
  return { perOp, failedOps };
}

/** DataLoader on/off: SQL statements per account page (counted in the subgraphs' driver) and req/s, ours only, its caches off. */
export async function runDataloader(stack: Stack, w: Workloads): Promise<DataloaderRow[]> {
  const rows: DataloaderRow[] = [];
  const auth = (await w.authFor('ours', w.accountUsers)) as { mode: 'bearer'; tokens: string[] };
  const body = w.http.account!.bodies('ours')[0]!;
  // The gateway's caches out of the way: a warm entity cache (products, categories) answers most of
  // the page's entity fetches, and it is warmer for the second mode, so counts would not compare.
  await stack.restartOurs({ ENTITY_CACHE_ENABLED: 'false', RESPONSE_CACHE_ENABLED: 'false' });
  for (const mode of ['on', 'off']) {
    if (mode === 'off') await stack.restartSubgraphs({ DATALOADER_DISABLED: 'true' });
    // Not just the gateway: its breakers to the restarted subgraphs may still be open (they close on
    // their next half-open probe), and pages answered "circuit open" send no SQL at all.
    await waitForOperation(stack.urls.ours!, body, { authorization: `Bearer ${auth.tokens[0]}` });
    const { perOp, failedOps } = await countStatements(stack, body, auth.tokens);
    const measured = await measure<LoadResult>(stack, 'ours', {
      kind: 'http',
      url: stack.urls.ours,
      bodies: [body],
      auth,
      connections: SETTINGS.connections,
      warmupS: SETTINGS.warmupS,
      durationS: SETTINGS.durationS,
    });
    const { result } = measured;
    const run = toRun(`dataloader ${mode}`, 'ours', 0, measured, null);
    rows.push({
      mode,
      statementsPerOp: perOp,
      failedOps,
      rps: result.rps,
      p50: result.p50,
      p99: result.p99,
      failed: result.failed,
      cpuPer: run.cpuPer,
    });
    console.log(
      `dataloader ${mode}: ${perOp.toFixed(1)} statements/op (${failedOps} of ${COUNTED_OPS} counted pages failed), ${result.rps.toFixed(0)} req/s, ${run.cpuPer.total.toFixed(2)} CPU ms/op (${result.failed} failed)`,
    );
  }
  return rows;
}
