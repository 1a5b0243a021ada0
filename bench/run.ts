import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SignJWT, importJWK } from 'jose';
import { generateLocalKeys, localEnv } from '../platform/local-env.js';
import { SUBGRAPHS, ensureDatabase, migrateSubgraph } from '../platform/migrate.js';
import type { Subgraph } from '../platform/migrate.js';
import { ROOT } from '../platform/paths.js';
import { startEmbeddedPostgres } from '../scripts/embedded-postgres.js';
import { freePort } from '../scripts/free-port.js';
import { startRedisServer } from '../scripts/redis-server.js';
import { ACCOUNT_PAGE } from '../test/support/operations.js';
import { BENCH_SIZE, loadBenchData } from './load-data.js';
import type { Auth, LoadResult } from './load-worker.js';
import { runJob, spawnTs, waitForGraphql, waitForMessage } from './processes.js';
import type { Child } from './processes.js';
import { runSubscriptionBench, writeReport } from './report.js';
import type { GatewayName, Row } from './report.js';

/**
 * `npm run bench`: our gateway, the stock Apollo gateway and Hive Gateway side by side over the
 * same subgraphs process and supergraph, on one freshly loaded data set. Every process (Postgres,
 * Redis, subgraphs, the gateway under test, the load generator) shares this machine's cores.
 */
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const DURATION_S = env('BENCH_DURATION_S', 10);
const WARMUP_S = env('BENCH_WARMUP_S', 3);
const REPS = env('BENCH_REPS', 3);
const CONNECTIONS = env('BENCH_CONNECTIONS', 16);
const CHECKOUT_CONCURRENCY = env('BENCH_CHECKOUT_CONCURRENCY', 4);
const ROTATE_USERS = env('BENCH_USERS', 2_000);
const SCALE = env('BENCH_SCALE', 1); // < 1 shrinks the data set for quick trials
const ONLY = (process.env.BENCH_GATEWAYS ?? 'ours,stock,hive').split(',') as GatewayName[];
const WORKLOADS = (process.env.BENCH_WORKLOADS ?? 'storefront,account,partner,checkout,dataloader').split(',');

const STOREFRONT = `query Storefront($c: ID!) { products(filter: {categoryId: $c}, first: 20) { edges { node {
  name price { amountCents currency } stock category { name } shippingEstimate { amountCents } } } } }`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function main() {
  const t0 = Date.now();
  const pg = await startEmbeddedPostgres({ dataDir: await mkdtemp(path.join(os.tmpdir(), 'bench-pg-')), port: await freePort(), persistent: false });
  const redis = await startRedisServer(await freePort());
  const children: Child[] = [];
  let subgraphs: Child | undefined;
  try {
    const databaseUrls = Object.fromEntries(SUBGRAPHS.map((s) => [s, pg.urlFor(s)])) as Record<Subgraph, string>;
    for (const s of SUBGRAPHS) {
      await ensureDatabase(pg.adminUrl, s);
      await migrateSubgraph(s, databaseUrls[s]);
    }
    const size = Object.fromEntries(Object.entries(BENCH_SIZE).map(([k, v]) => [k, k === 'categories' ? v : Math.round(v * SCALE)])) as typeof BENCH_SIZE;
    const loadStarted = Date.now();
    const data = await loadBenchData(databaseUrls, size);
    const loadSeconds = (Date.now() - loadStarted) / 1000;
    console.log(`data: ${data.summary}; loaded with COPY + ANALYZE in ${loadSeconds.toFixed(1)} s`);

    const keys = await generateLocalKeys();
    const ports = { gateway: await freePort(), users: await freePort(), catalog: await freePort(), orders: await freePort(), billing: await freePort() };
    const unlimited = '1000000000';
    const envs = localEnv({
      keys, databaseUrls, ports, redisUrl: redis.url, logLevel: 'error', nodeEnv: 'production', eventNamespace: 'bench:',
      // The peers have no rate limits; ours keeps its limiter running but with limits out of reach.
      extra: { gateway: { RATE_LIMIT_ANONYMOUS: unlimited, RATE_LIMIT_USER: unlimited, RATE_LIMIT_PARTNER: unlimited } },
    });
    const debugPort = await freePort();
    const subgraphEnv = JSON.stringify({ users: envs.users, catalog: envs.catalog, orders: envs.orders, billing: envs.billing });
    const startSubgraphs = async (extra: Record<string, string> = {}) => {
      subgraphs = spawnTs('bench/subgraphs-process.ts', { BENCH_SUBGRAPH_ENV: subgraphEnv, BENCH_DEBUG_PORT: String(debugPort), ...extra });
      await waitForMessage(subgraphs!, 'ready');
    };
    await startSubgraphs();
    const statements = async () => ((await (await fetch(`http://127.0.0.1:${debugPort}/`)).json()) as { total: number }).total;

    const subgraphUrls = JSON.stringify({ users: envs.gateway.USERS_URL, catalog: envs.gateway.CATALOG_URL, orders: envs.gateway.ORDERS_URL, billing: envs.gateway.BILLING_URL });
    const urls: Partial<Record<GatewayName, string>> = {};
    const skipped: Partial<Record<GatewayName, string>> = {};
    const start = async (name: GatewayName, file: string, extraEnv: Record<string, string>) => {
      if (!ONLY.includes(name)) return;
      try {
        const child = spawnTs(file, extraEnv);
        children.push(child);
        const url = name === 'ours' ? `http://127.0.0.1:${ports.gateway}/graphql` : ((await waitForMessage(child, 'ready')) as string);
        await waitForGraphql(url);
        urls[name] = url;
      } catch (err) {
        skipped[name] = String(err).slice(0, 300);
        console.error(`${name}: cannot run: ${skipped[name]}`);
      }
    };
    await start('ours', 'gateway/index.ts', envs.gateway);
    // APOLLO_TELEMETRY_DISABLED: otherwise @apollo/server reports to Apollo and probes cloud metadata.
    await start('stock', 'bench/stock-gateway.ts', { PORT: String(await freePort()), APOLLO_TELEMETRY_DISABLED: 'true', BENCH_SUBGRAPH_URLS: subgraphUrls });
    await start('hive', 'bench/hive-gateway.ts', { PORT: String(await freePort()), APOLLO_TELEMETRY_DISABLED: 'true', DO_NOT_TRACK: '1', BENCH_SUBGRAPH_URLS: subgraphUrls });

    // Credentials: user JWTs for ours; for the peers, the identities a gateway-signed service token carries.
    const userKey = await importJWK(keys.userTokenKey, 'ES256');
    const customers = data.users.filter((u) => u.role === 'CUSTOMER');
    const sample = (from: number) => customers.slice(from, from + Math.min(ROTATE_USERS, customers.length - from));
    const jwt = (sub: string) => new SignJWT({ role: 'CUSTOMER', scope: '' }).setProtectedHeader({ alg: 'ES256', kid: keys.userTokenKey.kid! })
      .setSubject(sub).setIssuer('urn:supergraph:users').setAudience('urn:supergraph').setIssuedAt().setExpirationTime('2h').sign(userKey);
    const authFor = async (gateway: GatewayName, users: typeof customers | null): Promise<Auth> => {
      if (gateway === 'ours') return users ? { mode: 'bearer', tokens: await Promise.all(users.map((u) => jwt(u.id))) } : { mode: 'none' };
      return { mode: 'internal', key: keys.services.gateway, identities: users ? users.map((u) => ({ userId: u.id, role: 'CUSTOMER' as const, scopes: [] })) : [{ userId: null, role: null, scopes: [] }] };
    };
    const accountUsers = sample(0);
    const checkoutUsers = sample(accountUsers.length);

    // Partner: the ProductBySku operation of the acme-partner manifest, sent as APQ (hash only)
    // after registering it; Hive Gateway ships no APQ, so it gets the full document.
    const manifest = JSON.parse(await readFile(path.join(ROOT, 'persisted-queries/acme-partner.json'), 'utf8')) as { operations: { id: string; name: string; body: string }[] };
    const bySku = manifest.operations.find((o) => o.name === 'ProductBySku')!;
    const sha = createHash('sha256').update(bySku.body).digest('hex');
    const apq = { persistedQuery: { version: 1, sha256Hash: sha } };
    const skus = data.products.map((p) => p.sku);
    const workloads = {
      storefront: { auth: null, bodies: () => data.categoryIds.map((c) => JSON.stringify({ query: STOREFRONT, variables: { c } })) },
      account: { auth: accountUsers, bodies: () => [JSON.stringify({ query: ACCOUNT_PAGE, variables: { n: 20 } })] },
      partner: {
        auth: null,
        bodies: (g: GatewayName) => skus.map((sku) => JSON.stringify(g === 'hive' ? { query: bySku.body, variables: { sku } } : { extensions: apq, variables: { sku } })),
      },
    };

    const worker = spawnTs('bench/load-worker.ts', {}, false);
    children.push(worker);
    const gateways = (Object.keys(urls) as GatewayName[]);
    // Sanity: every workload answers without errors on every gateway before anything is timed.
    for (const g of gateways) {
      const auth = await authFor(g, accountUsers.slice(0, 1));
      const headers: Record<string, string> = auth.mode === 'bearer' ? { authorization: `Bearer ${auth.tokens[0]}` } : {};
      const post = async (body: string, h: Record<string, string>) => (await (await fetch(urls[g]!, { method: 'POST', headers: { 'content-type': 'application/json', ...h }, body })).text());
      if (g !== 'hive') await post(JSON.stringify({ query: bySku.body, extensions: apq, variables: { sku: skus[0] } }), {});
      for (const [name, w] of Object.entries(workloads)) {
        const h = w.auth ? headers : {};
        const probe = await runJob<LoadResult>(worker, { kind: 'http', url: urls[g], bodies: w.bodies(g).slice(0, 1), auth: await authFor(g, w.auth ? w.auth.slice(0, 1) : null), connections: 1, warmupS: 0, durationS: 1 });
        if (probe.failed) console.error(`${g}/${name}: ${probe.failed} of ${probe.requests} failed; sample: ${(await post(w.bodies(g)[0]!, h)).slice(0, 300)}`);
      }
    }

    const rows: Row[] = [];
    for (const [name, w] of Object.entries(workloads).filter(([n]) => WORKLOADS.includes(n))) {
      const runs: Record<string, LoadResult[]> = {};
      for (let rep = 0; rep < REPS; rep++) {
        for (const g of gateways) {
          const r = await runJob<LoadResult>(worker, { kind: 'http', url: urls[g], bodies: w.bodies(g), auth: await authFor(g, w.auth), connections: CONNECTIONS, warmupS: WARMUP_S, durationS: DURATION_S });
          (runs[g] ??= []).push(r);
          console.log(`${name} ${g} rep ${rep + 1}: ${r.rps.toFixed(0)} req/s p50 ${r.p50} ms p99 ${r.p99} ms (${r.failed} failed)`);
        }
      }
      rows.push(summarize(name, runs));
    }
    if (WORKLOADS.includes('checkout')) {
      const runs: Record<string, LoadResult[]> = {};
      for (let rep = 0; rep < REPS; rep++) {
        for (const g of gateways) {
          const r = await runJob<LoadResult>(worker, { kind: 'checkout', url: urls[g], auth: await authFor(g, checkoutUsers), productIds: data.products.map((p) => p.id), concurrency: CHECKOUT_CONCURRENCY, warmupS: Math.min(WARMUP_S, 2), durationS: DURATION_S, runId: `${g}-${rep}-${randomUUID().slice(0, 8)}` });
          (runs[g] ??= []).push(r);
          console.log(`checkout ${g} rep ${rep + 1}: ${r.rps.toFixed(1)} checkouts/s p50 ${r.p50.toFixed(0)} ms p99 ${r.p99.toFixed(0)} ms (${r.failed} failed)`);
        }
      }
      rows.push(summarize('checkout', runs));
    }

    // DataLoader on/off: SQL statements per account page (counted in the subgraphs' driver) and req/s, ours only.
    const dataloader: { mode: string; statementsPerOp: number; rps: number; p50: number; p99: number }[] = [];
    if (urls.ours && WORKLOADS.includes('dataloader')) {
      for (const mode of ['on', 'off']) {
        if (mode === 'off') {
          await subgraphs!.stop();
          await startSubgraphs({ DATALOADER_DISABLED: 'true' });
        }
        const auth = (await authFor('ours', accountUsers)) as { tokens: string[] };
        const ops = 50;
        await waitForGraphql(urls.ours);
        const before = await statements();
        for (let i = 0; i < ops; i++) {
          await fetch(urls.ours, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${auth.tokens[i]}` }, body: workloads.account.bodies()[0] });
        }
        const perOp = ((await statements()) - before) / ops;
        const rs: LoadResult[] = [];
        for (let rep = 0; rep < REPS; rep++) {
          rs.push(await runJob<LoadResult>(worker, { kind: 'http', url: urls.ours, bodies: workloads.account.bodies(), auth, connections: CONNECTIONS, warmupS: WARMUP_S, durationS: DURATION_S }));
        }
        dataloader.push({ mode, statementsPerOp: perOp, rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)) });
        console.log(`dataloader ${mode}: ${perOp.toFixed(1)} statements/op, ${dataloader.at(-1)!.rps.toFixed(0)} req/s`);
      }
    }
    worker.proc.send({ stop: true });
    await Promise.all(children.map((c) => c.stop()));
    await subgraphs!.stop();

    const subscriptions = await runSubscriptionBench(env('BENCH_SUBSCRIBERS', 200));
    await writeReport({
      size: data.summary, loadSeconds, rows, dataloader, subscriptions, skipped,
      settings: { durationS: DURATION_S, warmupS: WARMUP_S, reps: REPS, connections: CONNECTIONS, checkoutConcurrency: CHECKOUT_CONCURRENCY, rotatedUsers: accountUsers.length },
      totalSeconds: (Date.now() - t0) / 1000,
    });
  } finally {
    await Promise.allSettled([...children, ...(subgraphs ? [subgraphs] : [])].map((c) => c.stop()));
    await redis.stop();
    await pg.stop();
  }
}

function summarize(workload: string, runs: Record<string, LoadResult[]>): Row {
  const row: Row = { workload, results: {} };
  for (const [g, rs] of Object.entries(runs)) {
    row.results[g as GatewayName] = {
      rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)),
      failed: rs.reduce((n, r) => n + r.failed, 0), reps: rs.map((r) => Math.round(r.rps * 10) / 10),
    };
  }
  return row;
}

await main();
process.exit(0);
