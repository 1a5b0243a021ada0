import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SignJWT, importJWK } from 'jose';
import postgres from 'postgres';
import { generateLocalKeys, localEnv } from '../platform/local-env.js';
import type { LocalKeys } from '../platform/local-env.js';
import { SUBGRAPHS, ensureDatabase, migrateSubgraph } from '../platform/migrate.js';
import type { Subgraph } from '../platform/migrate.js';
import { ROOT } from '../platform/paths.js';
import { startEmbeddedPostgres } from '../scripts/embedded-postgres.js';
import { freePort } from '../scripts/free-port.js';
import { startRedisServer } from '../scripts/redis-server.js';
import { print as printDocument } from 'graphql';
import { ACCOUNT_PAGE } from '../test/support/operations.js';
import { BENCH_SIZE, loadBenchData } from './load-data.js';
import type { BenchData } from './load-data.js';
import type { Auth, LoadResult, MixedResult } from './load-worker.js';
import { cpuDelta, findPids, postmasterPid, sampleCpu } from './proc-cpu.js';
import type { CpuSample, Probe } from './proc-cpu.js';
import { runJob, spawnTs, waitForGraphql, waitForMessage } from './processes.js';
import type { Child } from './processes.js';
import { runSubscriptionBench, summarize, writeReport } from './report.js';
import type { DataloaderRow, GatewayName, MixedRun, Run } from './report.js';
import { analyseStaleness } from './staleness.js';
import type { StockChange } from './staleness.js';

/**
 * `npm run bench`: our gateway, the stock Apollo gateway and Hive Gateway side by side over the
 * same subgraphs process and supergraph, on one freshly loaded data set. Every process (Postgres,
 * Redis, subgraphs, the gateway under test, the load generator) shares this machine's cores, so:
 * - the gateways are interleaved within every repetition (A B C, then B C A, then C A B), and the
 *   ratios are taken per repetition between runs minutes apart at most, then summarised;
 * - CPU per request is read per process from /proc (bench/proc-cpu.ts) over each measured window:
 *   the gateway under test, the subgraphs process, Postgres (postmaster and all its backends), Redis;
 * - every process runs with NODE_ENV=production and without tsx's source maps (bench/processes.ts).
 */
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
export const SETTINGS = {
  durationS: env('BENCH_DURATION_S', 8),
  warmupS: env('BENCH_WARMUP_S', 2),
  reps: env('BENCH_REPS', 3),
  connections: env('BENCH_CONNECTIONS', 16),
  checkoutConcurrency: env('BENCH_CHECKOUT_CONCURRENCY', 4),
  mixedReaders: env('BENCH_MIXED_READERS', 8),
  mixedCategories: env('BENCH_MIXED_CATEGORIES', 5),
  rotatedUsers: env('BENCH_USERS', 2_000),
  scale: env('BENCH_SCALE', 1), // < 1 shrinks the data set for quick trials
};
const ONLY = (process.env.BENCH_GATEWAYS ?? 'ours,stock,hive').split(',') as GatewayName[];
const WORKLOADS = (process.env.BENCH_WORKLOADS ?? 'storefront,account,partner,mixed,checkout,dataloader').split(',');

const STOREFRONT = `query Storefront($c: ID!) { products(filter: {categoryId: $c}, first: 20) { edges { node {
  name price { amountCents currency } stock category { name } shippingEstimate { amountCents } } } } }`;
/** The same page with each product's id, so the mixed workload can tell which stock it saw. */
const STOREFRONT_IDS = STOREFRONT.replace('node {\n', 'node { id\n');

interface Stack {
  data: BenchData;
  keys: LocalKeys;
  urls: Partial<Record<GatewayName, string>>;
  skipped: Partial<Record<GatewayName, string>>;
  probes: Record<GatewayName | 'subgraphs' | 'postgres' | 'redis', Probe | undefined>;
  catalogUrl: string;
  oursMetricsUrl: string;
  worker: Child;
  restartSubgraphs(extra: Record<string, string>): Promise<void>;
  statements(): Promise<number>;
}

interface Measured<T> {
  result: T;
  cpu: CpuSample;
}

/** Runs one job and reads every probe's CPU at the start and the end of its measured window. */
async function measure<T>(stack: Stack, gateway: GatewayName, job: unknown): Promise<Measured<T>> {
  const candidates: [string, Probe | undefined][] = [
    ['gateway', stack.probes[gateway]],
    ['subgraphs', stack.probes.subgraphs],
    ['postgres', stack.probes.postgres],
    ['redis', stack.probes.redis],
  ];
  const probes = Object.fromEntries(candidates.filter(([, p]) => p)) as Record<string, Probe>;
  let before: CpuSample | undefined;
  const onMessage = (m: any) => {
    if (m?.measuring) before = sampleCpu(probes);
  };
  stack.worker.proc.on('message', onMessage);
  try {
    const result = await runJob<T>(stack.worker, job);
    return { result, cpu: cpuDelta(before ?? sampleCpu(probes), sampleCpu(probes)) };
  } finally {
    stack.worker.proc.off('message', onMessage);
  }
}

type CacheCounts = Record<string, { hit: number; miss: number }>;

/** Cache hits and misses our gateway has counted so far, per `*cache*_total` counter with result="hit"|"miss". */
async function cacheCounters(url: string): Promise<CacheCounts | null> {
  const text = await fetch(url).then(
    (r) => (r.ok ? r.text() : ''),
    () => '',
  );
  const counts: CacheCounts = {};
  for (const line of text.split('\n')) {
    const m = /^(\w*cache\w*_total)\{([^}]*)\}\s+([\d.e+]+)/.exec(line);
    const result = m && /result="(hit|miss)"/.exec(m[2]!)?.[1];
    if (!m || !result) continue;
    const c = (counts[m[1]!] ??= { hit: 0, miss: 0 });
    c[result as 'hit' | 'miss'] += Number(m[3]);
    // Per subgraph too (`<counter>/<subgraph>`), for the log line.
    const subgraph = /subgraph="(\w+)"/.exec(m[2]!)?.[1];
    if (subgraph) (counts[`${m[1]}/${subgraph}`] ??= { hit: 0, miss: 0 })[result as 'hit' | 'miss'] += Number(m[3]);
  }
  return Object.keys(counts).length ? counts : null;
}

/**
 * The hit rate over a run: of the response cache when the workload used it (anonymous and partner
 * requests: a hit is a whole request served from it), else of the entity cache's lookups.
 */
const hitRate = (a: CacheCounts | null, b: CacheCounts | null) => {
  if (!a || !b) return null;
  const delta = (name: string) => ({ hit: (b[name]?.hit ?? 0) - (a[name]?.hit ?? 0), miss: (b[name]?.miss ?? 0) - (a[name]?.miss ?? 0) });
  const names = Object.keys(b)
    .filter((n) => !n.includes('/'))
    .sort((x, y) => Number(y.includes('response')) - Number(x.includes('response')));
  for (const name of names) {
    const d = delta(name);
    if (d.hit + d.miss > 0) return d.hit / (d.hit + d.miss);
  }
  return 0;
};

/** `catalog 97%, orders 40%, …`: the entity cache's hit rate per subgraph over a run. */
function perSubgraphHits(a: CacheCounts, b: CacheCounts): string {
  return Object.keys(b)
    .filter((n) => n.startsWith('gateway_entity_cache_total/'))
    .map((n) => {
      const hit = (b[n]?.hit ?? 0) - (a[n]?.hit ?? 0);
      const all = hit + (b[n]?.miss ?? 0) - (a[n]?.miss ?? 0);
      return all ? `${n.split('/')[1]} ${Math.round((100 * hit) / all)}% of ${all}` : '';
    })
    .filter(Boolean)
    .join(', ');
}

/** The rotation of repetition `rep`: A B C, B C A, C A B, ... (no gateway always runs first). */
const rotation = <T>(xs: T[], rep: number) => xs.map((_, i) => xs[(i + rep) % xs.length]!);

async function startStack(
  pgDataDir: string,
  pg: Awaited<ReturnType<typeof startEmbeddedPostgres>>,
  redis: Awaited<ReturnType<typeof startRedisServer>>,
  children: Child[],
) {
  const databaseUrls = Object.fromEntries(SUBGRAPHS.map((s) => [s, pg.urlFor(s)])) as Record<Subgraph, string>;
  for (const s of SUBGRAPHS) {
    await ensureDatabase(pg.adminUrl, s);
    await migrateSubgraph(s, databaseUrls[s]);
  }
  const size = Object.fromEntries(
    Object.entries(BENCH_SIZE).map(([k, v]) => [k, k === 'categories' ? v : Math.round(v * SETTINGS.scale)]),
  ) as typeof BENCH_SIZE;
  const loadStarted = Date.now();
  const data = await loadBenchData(databaseUrls, size);
  const loadSeconds = (Date.now() - loadStarted) / 1000;
  console.log(`data: ${data.summary}; loaded with COPY + ANALYZE in ${loadSeconds.toFixed(1)} s`);

  const keys = await generateLocalKeys();
  const ports = {
    gateway: await freePort(),
    users: await freePort(),
    catalog: await freePort(),
    orders: await freePort(),
    billing: await freePort(),
  };
  const unlimited = '1000000000';
  // /metrics is never on the public port: the cache hit rate is read from this one.
  const oursMetricsPort = await freePort();
  const envs = localEnv({
    keys,
    databaseUrls,
    ports,
    metricsPorts: { gateway: oursMetricsPort },
    redisUrl: redis.url,
    logLevel: 'error',
    nodeEnv: 'production',
    eventNamespace: 'bench:',
    // The peers have no rate limits; ours keeps its limiter running but with limits out of reach.
    extra: { gateway: { RATE_LIMIT_ANONYMOUS: unlimited, RATE_LIMIT_USER: unlimited, RATE_LIMIT_PARTNER: unlimited } },
  });
  const debugPort = await freePort();
  const subgraphEnv = JSON.stringify({ users: envs.users, catalog: envs.catalog, orders: envs.orders, billing: envs.billing });
  let subgraphs: Child | undefined;
  const startSubgraphs = async (extra: Record<string, string> = {}) => {
    subgraphs = spawnTs('bench/subgraphs-process.ts', { BENCH_SUBGRAPH_ENV: subgraphEnv, BENCH_DEBUG_PORT: String(debugPort), ...extra });
    children.push(subgraphs);
    await waitForMessage(subgraphs, 'ready');
  };
  await startSubgraphs();

  // The same {name: url} map the gateway's SUBGRAPH_URLS holds.
  const subgraphUrls = envs.gateway.SUBGRAPH_URLS!;
  const urls: Partial<Record<GatewayName, string>> = {};
  const skipped: Partial<Record<GatewayName, string>> = {};
  const pids: Partial<Record<GatewayName, number>> = {};
  const start = async (name: GatewayName, file: string, extraEnv: Record<string, string>) => {
    if (!ONLY.includes(name)) return;
    try {
      const child = spawnTs(file, extraEnv);
      children.push(child);
      const url = name === 'ours' ? `http://127.0.0.1:${ports.gateway}/graphql` : ((await waitForMessage(child, 'ready')) as string);
      await waitForGraphql(url);
      urls[name] = url;
      pids[name] = child.proc.pid!;
    } catch (err) {
      skipped[name] = String(err).slice(0, 300);
      console.error(`${name}: cannot run: ${skipped[name]}`);
    }
  };
  await start('ours', 'gateway/index.ts', envs.gateway);
  // APOLLO_TELEMETRY_DISABLED: otherwise @apollo/server reports to Apollo and probes cloud metadata.
  await start('stock', 'bench/stock-gateway.ts', {
    PORT: String(await freePort()),
    APOLLO_TELEMETRY_DISABLED: 'true',
    BENCH_SUBGRAPH_URLS: subgraphUrls,
  });
  await start('hive', 'bench/hive-gateway.ts', {
    PORT: String(await freePort()),
    APOLLO_TELEMETRY_DISABLED: 'true',
    DO_NOT_TRACK: '1',
    BENCH_SUBGRAPH_URLS: subgraphUrls,
  });

  const worker = spawnTs('bench/load-worker.ts', {}, false);
  children.push(worker);
  const redisPid = findPids('redis-server', `:${redis.port}`)[0];
  const tree = (pid: number | undefined): Probe | undefined => (pid ? { kind: 'tree', pid } : undefined);
  const stack: Stack = {
    data,
    keys,
    urls,
    skipped,
    worker,
    catalogUrl: databaseUrls.catalog,
    oursMetricsUrl: `http://127.0.0.1:${oursMetricsPort}/metrics`,
    probes: {
      ours: tree(pids.ours),
      stock: tree(pids.stock),
      hive: tree(pids.hive),
      subgraphs: tree(subgraphs!.proc.pid),
      postgres: tree(postmasterPid(pgDataDir)),
      redis: redisPid ? { kind: 'process', pid: redisPid } : undefined,
    },
    async restartSubgraphs(extra) {
      await subgraphs!.stop();
      await startSubgraphs(extra);
      stack.probes.subgraphs = tree(subgraphs!.proc.pid);
    },
    statements: async () => ((await (await fetch(`http://127.0.0.1:${debugPort}/`)).json()) as { total: number }).total,
  };
  return { stack, loadSeconds };
}

async function main() {
  const t0 = Date.now();
  const runsPerGateway = WORKLOADS.filter((w) => w !== 'dataloader').length * SETTINGS.reps;
  console.log(
    `plan: ${WORKLOADS.join(', ')}; ${ONLY.length} gateways x ${runsPerGateway} runs of ${SETTINGS.warmupS} + ${SETTINGS.durationS} s ` +
      `(~${Math.round((ONLY.length * runsPerGateway * (SETTINGS.warmupS + SETTINGS.durationS + 0.5)) / 60)} min of load)`,
  );
  const pgDataDir = await mkdtemp(path.join(os.tmpdir(), 'bench-pg-'));
  const pg = await startEmbeddedPostgres({ dataDir: pgDataDir, port: await freePort(), persistent: false });
  const redis = await startRedisServer(await freePort());
  const children: Child[] = [];
  try {
    const { stack, loadSeconds } = await startStack(pgDataDir, pg, redis, children);
    const w = await workloadsOf(stack);
    await sanity(stack, w);
    const runs: Run[] = [];
    for (const [name, workload] of Object.entries(w.http).filter(([n]) => WORKLOADS.includes(n)))
      runs.push(...(await runHttpWorkload(stack, w, name, workload)));
    const mixed = WORKLOADS.includes('mixed') ? await runMixedWorkload(stack, w) : [];
    if (WORKLOADS.includes('checkout')) runs.push(...(await runCheckoutWorkload(stack, w)));
    const dataloader = stack.urls.ours && WORKLOADS.includes('dataloader') ? await runDataloader(stack, w) : [];
    stack.worker.proc.send({ stop: true });
    await Promise.all(children.map((c) => c.stop()));

    const subscriptions = await runSubscriptionBench(env('BENCH_SUBSCRIBERS', 200));
    await writeReport({
      size: stack.data.summary,
      loadSeconds,
      rows: summarize(runs),
      runs,
      mixed,
      dataloader,
      subscriptions,
      skipped: stack.skipped,
      settings: { ...SETTINGS, rotatedUsers: w.accountUsers.length },
      totalSeconds: (Date.now() - t0) / 1000,
    });
  } finally {
    await Promise.allSettled(children.map((c) => c.stop()));
    await redis.stop();
    await pg.stop();
  }
}

interface HttpWorkload {
  auth: BenchData['users'] | null;
  bodies: (g: GatewayName) => string[];
}

async function workloadsOf(stack: Stack) {
  const { data, keys } = stack;
  // Credentials: user JWTs for ours; for the peers, the identities a gateway-signed service token carries.
  const userKey = await importJWK(keys.userTokenKey, 'ES256');
  const customers = data.users.filter((u) => u.role === 'CUSTOMER');
  // Two disjoint samples (account readers, buyers), each at most half of the customers.
  const sample = (from: number) => customers.slice(from, from + Math.min(SETTINGS.rotatedUsers, Math.floor(customers.length / 2)));
  const jwt = (sub: string) =>
    new SignJWT({ role: 'CUSTOMER', scope: '' })
      .setProtectedHeader({ alg: 'ES256', kid: keys.userTokenKey.kid! })
      .setSubject(sub)
      .setIssuer('urn:supergraph:users')
      .setAudience('urn:supergraph')
      .setIssuedAt()
      .setExpirationTime('2h')
      .sign(userKey);
  const tokens = new Map<string, Promise<string>>();
  const authFor = async (gateway: GatewayName, users: typeof customers | null): Promise<Auth> => {
    if (gateway === 'ours')
      return users
        ? { mode: 'bearer', tokens: await Promise.all(users.map((u) => tokens.get(u.id) ?? tokens.set(u.id, jwt(u.id)).get(u.id)!)) }
        : { mode: 'none' };
    return {
      mode: 'internal',
      key: keys.services.gateway,
      identities: users
        ? users.map((u) => ({ userId: u.id, role: 'CUSTOMER' as const, scopes: [] }))
        : [{ userId: null, role: null, scopes: [] }],
    };
  };
  const accountUsers = sample(0);
  const checkoutUsers = sample(accountUsers.length);

  // Partner: the ProductBySku operation of the acme-partner manifest, sent as APQ (hash only)
  // after registering it; Hive Gateway ships no APQ, so it gets the full document.
  const manifest = JSON.parse(await readFile(path.join(ROOT, 'persisted-queries/acme-partner.json'), 'utf8')) as {
    operations: { id: string; name: string; body: string }[];
  };
  const bySku = manifest.operations.find((o) => o.name === 'ProductBySku')!;
  const apq = { persistedQuery: { version: 1, sha256Hash: createHash('sha256').update(bySku.body).digest('hex') } };
  const skus = data.products.map((p) => p.sku);
  // Every category and every SKU is requested, in rotation: the realistic key distribution, not one hot key.
  const http: Record<string, HttpWorkload> = {
    storefront: { auth: null, bodies: () => data.categoryIds.map((c) => JSON.stringify({ query: STOREFRONT, variables: { c } })) },
    account: { auth: accountUsers, bodies: () => [JSON.stringify({ query: printDocument(ACCOUNT_PAGE), variables: { n: 20 } })] },
    partner: {
      auth: null,
      bodies: (g) =>
        skus.map((sku) =>
          JSON.stringify(g === 'hive' ? { query: bySku.body, variables: { sku } } : { extensions: apq, variables: { sku } }),
        ),
    },
  };
  const register = (g: GatewayName) =>
    fetch(stack.urls[g]!, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: bySku.body, extensions: apq, variables: { sku: skus[0] } }),
    });
  return { http, authFor, accountUsers, checkoutUsers, register };
}
type Workloads = Awaited<ReturnType<typeof workloadsOf>>;

const gatewaysOf = (stack: Stack) => Object.keys(stack.urls) as GatewayName[];

/** Every workload answers without errors on every gateway before anything is timed. */
async function sanity(stack: Stack, w: Workloads) {
  for (const g of gatewaysOf(stack)) {
    if (g !== 'hive') await w.register(g);
    for (const [name, workload] of Object.entries(w.http)) {
      const probe = await runJob<LoadResult>(stack.worker, {
        kind: 'http',
        url: stack.urls[g],
        bodies: workload.bodies(g).slice(0, 1),
        auth: await w.authFor(g, workload.auth ? workload.auth.slice(0, 1) : null),
        connections: 1,
        warmupS: 0,
        durationS: 1,
      });
      if (probe.failed) console.error(`${g}/${name}: ${probe.failed} of ${probe.requests} failed`);
    }
  }
}

async function runHttpWorkload(stack: Stack, w: Workloads, name: string, workload: HttpWorkload): Promise<Run[]> {
  const runs: Run[] = [];
  for (let rep = 0; rep < SETTINGS.reps; rep++) {
    for (const g of rotation(gatewaysOf(stack), rep)) {
      const before = g === 'ours' ? await cacheCounters(stack.oursMetricsUrl) : null;
      const job = {
        kind: 'http',
        url: stack.urls[g],
        bodies: workload.bodies(g),
        auth: await w.authFor(g, workload.auth),
        connections: SETTINGS.connections,
        warmupS: SETTINGS.warmupS,
        durationS: SETTINGS.durationS,
      };
      const { result, cpu } = await measure<LoadResult>(stack, g, job);
      const after = g === 'ours' ? await cacheCounters(stack.oursMetricsUrl) : null;
      const hits = hitRate(before, after);
      runs.push(toRun(name, g, rep, result, cpu, hits));
      if (before && after) console.log(`  entity cache hit rate per subgraph: ${perSubgraphHits(before, after)}`);
      logRun(runs.at(-1)!);
    }
  }
  return runs;
}

function toRun(workload: string, gateway: GatewayName, rep: number, r: LoadResult, cpu: CpuSample, hitRate: number | null): Run {
  const per = (k: string) => (r.count ? (cpu[k] ?? 0) / r.count : 0);
  const cpuPer = { gateway: per('gateway'), subgraphs: per('subgraphs'), postgres: per('postgres'), redis: per('redis'), total: 0 };
  cpuPer.total = cpuPer.gateway + cpuPer.subgraphs + cpuPer.postgres + cpuPer.redis;
  return { workload, gateway, rep, rps: r.rps, p50: r.p50, p99: r.p99, failed: r.failed, count: r.count, cpuPer, hitRate };
}

const logRun = (r: Run) =>
  console.log(
    `${r.workload} ${r.gateway} rep ${r.rep + 1}: ${r.rps.toFixed(1)}/s p50 ${r.p50.toFixed(0)} ms p99 ${r.p99.toFixed(0)} ms, ` +
      `CPU ms per unit gw ${r.cpuPer.gateway.toFixed(2)} sub ${r.cpuPer.subgraphs.toFixed(2)} pg ${r.cpuPer.postgres.toFixed(2)} redis ${r.cpuPer.redis.toFixed(2)} = ${r.cpuPer.total.toFixed(2)} (${r.failed} failed)`,
  );

async function runCheckoutWorkload(stack: Stack, w: Workloads): Promise<Run[]> {
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
      const { result, cpu } = await measure<LoadResult>(stack, g, job);
      runs.push(toRun('checkout', g, rep, result, cpu, null));
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

/** Storefront reads of a few categories while checkouts buy the very products on those pages. */
async function runMixedWorkload(stack: Stack, w: Workloads): Promise<MixedRun[]> {
  const { categoryIds } = stack.data;
  const step = Math.max(1, Math.floor(categoryIds.length / SETTINGS.mixedCategories));
  const categories = categoryIds.filter((_, i) => i % step === 0).slice(0, SETTINGS.mixedCategories);
  const bodies = categories.map((c) => JSON.stringify({ query: STOREFRONT_IDS, variables: { c } }));
  const first = gatewaysOf(stack)[0]!;
  const productIds: string[] = [];
  for (const body of bodies) {
    const page = await (
      await fetch(stack.urls[first]!, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(first === 'ours' ? {} : await internalHeader(w, first)) },
        body,
      })
    ).json();
    if (!page.data?.products) throw new Error(`mixed: cannot list the products of a category: ${JSON.stringify(page).slice(0, 300)}`);
    productIds.push(...page.data.products.edges.map((e: any) => e.node.id as string));
  }
  const sql = postgres(stack.catalogUrl, { max: 1, onnotice: () => {} });
  const maxAgeMs = await stockMaxAgeMs();
  const runs: MixedRun[] = [];
  try {
    for (let rep = 0; rep < SETTINGS.reps; rep++) {
      for (const g of rotation(gatewaysOf(stack), rep)) {
        const before = g === 'ours' ? await cacheCounters(stack.oursMetricsUrl) : null;
        const job = {
          kind: 'mixed',
          url: stack.urls[g],
          bodies,
          readAuth: await w.authFor(g, null),
          readers: SETTINGS.mixedReaders,
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
        const { result, cpu } = await measure<MixedResult>(stack, g, job);
        const hits = g === 'ours' ? hitRate(before, await cacheCounters(stack.oursMetricsUrl)) : null;
        const changes = (
          await sql`select payload->>'productId' as "productId", (payload->>'stock')::int as stock, occurred_at as "occurredAt"
          from outbox where type = 'StockChanged' and payload->>'productId' = any(${productIds}) order by position`
        ).map((c) => ({ ...c, occurredAt: new Date(c.occurredAt).getTime() })) as unknown as StockChange[];
        const staleness = analyseStaleness(changes, result.seen, result.window, maxAgeMs);
        const run: MixedRun = {
          ...toRun('mixed', g, rep, result.reads, cpu, hits),
          checkoutsPerS: result.checkouts.rps,
          checkoutsFailed: result.checkouts.failed,
          staleness,
          maxAgeMs,
        };
        runs.push(run);
        logRun(run);
        const s = staleness.stalenessMs;
        console.log(
          `  mixed ${g}: ${run.checkoutsPerS.toFixed(1)} checkouts/s; ${staleness.changes} stock changes, staleness p50 ${s?.p50.toFixed(0)} / p99 ${s?.p99.toFixed(0)} / max ${s?.max.toFixed(0)} ms, ${staleness.unobserved} unobserved; views stale > max-age: ${staleness.staleOverMaxAge}`,
        );
      }
    }
  } finally {
    await sql.end();
  }
  return runs;
}

async function internalHeader(w: Workloads, g: GatewayName): Promise<Record<string, string>> {
  const auth = await w.authFor(g, null);
  if (auth.mode !== 'internal') return {};
  const { createServiceTokenSigner, INTERNAL_TOKEN_HEADER } = await import('../platform/auth/service-token.js');
  return { [INTERNAL_TOKEN_HEADER]: await (await createServiceTokenSigner(auth.key)).sign(auth.identities[0]!) };
}

/** DataLoader on/off: SQL statements per account page (counted in the subgraphs' driver) and req/s, ours only. */
async function runDataloader(stack: Stack, w: Workloads): Promise<DataloaderRow[]> {
  const rows: DataloaderRow[] = [];
  const auth = (await w.authFor('ours', w.accountUsers)) as { mode: 'bearer'; tokens: string[] };
  const body = w.http.account!.bodies('ours')[0]!;
  for (const mode of ['on', 'off']) {
    if (mode === 'off') await stack.restartSubgraphs({ DATALOADER_DISABLED: 'true' });
    await waitForGraphql(stack.urls.ours!);
    const ops = 50;
    const before = await stack.statements();
    for (let i = 0; i < ops; i++) {
      await fetch(stack.urls.ours!, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${auth.tokens[i]}` },
        body,
      });
    }
    const perOp = ((await stack.statements()) - before) / ops;
    const { result, cpu } = await measure<LoadResult>(stack, 'ours', {
      kind: 'http',
      url: stack.urls.ours,
      bodies: [body],
      auth,
      connections: SETTINGS.connections,
      warmupS: SETTINGS.warmupS,
      durationS: SETTINGS.durationS,
    });
    const run = toRun(`dataloader ${mode}`, 'ours', 0, result, cpu, null);
    rows.push({ mode, statementsPerOp: perOp, rps: result.rps, p50: result.p50, p99: result.p99, cpuPer: run.cpuPer });
    console.log(
      `dataloader ${mode}: ${perOp.toFixed(1)} statements/op, ${result.rps.toFixed(0)} req/s, ${run.cpuPer.total.toFixed(2)} CPU ms/op`,
    );
  }
  return rows;
}

await main();
process.exit(0);
