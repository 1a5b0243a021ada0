import path from 'node:path';
import { print as printDocument } from 'graphql';
import { generateLocalKeys, localEnv } from '../platform/local-env.js';
import { ROOT } from '../platform/paths.js';
import { freePort } from '../scripts/free-port.js';
import { startRedisServer } from '../scripts/redis-server.js';
import { ACCOUNT_PAGE } from '../test/support/operations.js';
import { freeServicePorts, migrateDatabases, scaledSize, startBenchPostgres } from './databases.js';
import { loadBenchData } from './load-data.js';
import type { LoadResult } from './load-worker.js';
import { measureJob } from './measure.js';
import { findPids, postmasterPid } from './proc-cpu.js';
import type { Probe } from './proc-cpu.js';
import { runJob, spawnTs, waitForGraphql, waitForMessage } from './processes.js';
import { benchGatewayLimits, gatewayNodeOptions } from './shipped-node-options.js';
import { createUserTokenSigner } from './user-tokens.js';
import { STOREFRONT } from './workloads.js';
import type { Child } from './processes.js';

/**
 * `npm run bench:cpu-ab`: CPU per request, one code tree against another, on one machine at one
 * time. Each tree in BENCH_AB_TREES (comma-separated project roots; `.` is this one; another is e.g.
 * `git archive <commit> | tar -x -C /tmp/base` with node_modules linked) runs its own subgraphs
 * process behind its own gateway, over one Postgres, one Redis and one data set. BENCH_AB_PART says
 * which part comes from the tree: `subgraphs` (the default; the gateway is this tree's) or `gateway`
 * (the subgraphs are this tree's); BENCH_AB_CACHES sets each variant's caches (`off`: the
 * engine alone). The variants are interleaved within every repetition (A B, then B A, ...), so
 * both see the same machine load, and CPU per request is read per process from /proc.
 */
const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SETTINGS = {
  durationS: env('BENCH_DURATION_S', 6),
  warmupS: env('BENCH_WARMUP_S', 2),
  reps: env('BENCH_REPS', 3),
  connections: env('BENCH_CONNECTIONS', 8),
  scale: env('BENCH_SCALE', 0.1),
  users: env('BENCH_USERS', 200),
  firstVisitUsers: env('BENCH_FIRST_VISIT_USERS', 10_000),
  primeS: env('BENCH_AB_PRIME_S', 5),
};
const TREES = (process.env.BENCH_AB_TREES ?? '.').split(',').map((t) => path.resolve(ROOT, t));
const WORKLOADS = (process.env.BENCH_WORKLOADS ?? 'storefront,account').split(',');
const PART = process.env.BENCH_AB_PART === 'gateway' ? 'gateway' : 'subgraphs';
/**
 * Each variant's caches, by BENCH_AB_CACHES: one value for every variant or one per variant
 * (comma-separated, in BENCH_AB_TREES's order): `on` (as configured), `off`, `entity` (the entity
 * cache alone) or `response` (the response cache alone). With `.,.` as the trees, one code tree's
 * caches on against off, interleaved.
 */
const CACHE_MODES: Record<string, Record<string, string>> = {
  on: {},
  off: { ENTITY_CACHE_ENABLED: 'false', RESPONSE_CACHE_ENABLED: 'false' },
  entity: { ENTITY_CACHE_ENABLED: 'true', RESPONSE_CACHE_ENABLED: 'false' },
  response: { ENTITY_CACHE_ENABLED: 'false', RESPONSE_CACHE_ENABLED: 'true' },
};
const CACHES = (process.env.BENCH_AB_CACHES ?? 'on').split(',');
const cachesOf = (index: number): Record<string, string> => {
  const mode = CACHES[CACHES.length === 1 ? 0 : index] ?? 'on';
  const env = CACHE_MODES[mode];
  if (!env) throw new Error(`BENCH_AB_CACHES: ${mode} is not one of ${Object.keys(CACHE_MODES).join(', ')}`);
  return env;
};
/**
 * More environment per variant, by BENCH_AB_ENV: `|`-separated per variant (BENCH_AB_TREES's order),
 * each a `;`-separated list of NAME=value, e.g. `CACHE_LOCAL_MAX_MB=64|CACHE_LOCAL_MAX_MB=8;LOG_LEVEL=info`.
 */
const EXTRA_ENV = (process.env.BENCH_AB_ENV ?? '').split('|');
const extraEnvOf = (index: number): Record<string, string> =>
  Object.fromEntries(
    (EXTRA_ENV[EXTRA_ENV.length === 1 ? 0 : index] ?? '')
      .split(';')
      .filter(Boolean)
      .map((pair) => {
        const at = pair.indexOf('=');
        if (at < 1) throw new Error(`BENCH_AB_ENV: ${pair} is not NAME=value`);
        return [pair.slice(0, at), pair.slice(at + 1)];
      }),
  );

interface Variant {
  tree: string;
  url: string;
  probes: Record<'gateway' | 'subgraphs', Probe>;
  gatewayPid: number;
}

async function startVariant(tree: string, index: number, base: Parameters<typeof localEnv>[0], children: Child[]): Promise<Variant> {
  const ports = await freeServicePorts();
  // Each variant's own event streams and cache keys (one Redis): one gateway never serves what the other wrote.
  const envs = localEnv({ ...base, ports, eventNamespace: `${base.eventNamespace}${index}:` });
  // The part under test runs from `tree` (its own platform code too), the other from this one.
  const subgraphEnv = JSON.stringify({ users: envs.users, catalog: envs.catalog, orders: envs.orders, billing: envs.billing });
  const subgraphs = spawnTs(
    'bench/subgraphs-process.ts',
    { BENCH_SUBGRAPH_ENV: subgraphEnv, BENCH_DEBUG_PORT: String(await freePort()) },
    true,
    PART === 'subgraphs' ? tree : ROOT,
  );
  children.push(subgraphs);
  await waitForMessage(subgraphs, 'ready');
  const gateway = spawnTs(
    'gateway/index.ts',
    { ...envs.gateway, ...gatewayNodeOptions(), ...cachesOf(index), ...extraEnvOf(index) },
    true,
    PART === 'gateway' ? tree : ROOT,
  );
  children.push(gateway);
  const url = `http://127.0.0.1:${ports.gateway}/graphql`;
  await waitForGraphql(url);
  return {
    tree,
    url,
    gatewayPid: gateway.proc.pid!,
    probes: { gateway: { kind: 'tree', pid: gateway.proc.pid! }, subgraphs: { kind: 'tree', pid: subgraphs.proc.pid! } },
  };
}

interface Row {
  workload: string;
  variant: number;
  rep: number;
  rps: number;
  /** Share of requests that failed (an overloaded machine times out subgraph fetches). */
  failedShare: number;
  perReq: Record<string, number>;
  /** The gateway's highest RSS in the measured window, MB. */
  gatewayRssMb: number;
}

/** A run with more failures than this, or none served, counts in no median and no ratio. */
const MAX_FAILED_SHARE = 0.02;
const usable = (r: Row | undefined): r is Row => !!r && r.rps > 0 && r.failedShare <= MAX_FAILED_SHARE;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
};

function report(rows: Row[]) {
  const label = (i: number) =>
    `${String.fromCharCode(65 + i)} (${path.relative(ROOT, TREES[i]!) || '.'}${CACHES.length > 1 ? `, caches ${CACHES[i]}` : ''}${EXTRA_ENV.length > 1 && EXTRA_ENV[i] ? `, ${EXTRA_ENV[i]}` : ''})`;
  console.log(
    `\nCPU ms per request (median of the usable of ${SETTINGS.reps} reps: something served, at most ${MAX_FAILED_SHARE * 100}% failed; node ${process.version}):`,
  );
  console.log(
    '| workload | variant | req/s | gateway | subgraphs | postgres | redis | total | gateway RSS MB (max) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const w of WORKLOADS) {
    TREES.forEach((_, i) => {
      const mine = rows.filter((r) => r.workload === w && r.variant === i && usable(r));
      const m = (k: string) => median(mine.map((r) => r.perReq[k] ?? 0)).toFixed(3);
      console.log(
        `| ${w} | ${label(i)} | ${median(mine.map((r) => r.rps)).toFixed(0)} | ${m('gateway')} | ${m('subgraphs')} | ${m('postgres')} | ${m('redis')} | ${m('total')} | ${Math.max(...mine.map((r) => r.gatewayRssMb)).toFixed(0)} |`,
      );
    });
  }
  if (TREES.length < 2) return;
  console.log(`\nPer-repetition ratio of each variant to A (${PART} CPU per request; total; req/s):`);
  for (const w of WORKLOADS) {
    for (let i = 1; i < TREES.length; i++) {
      // A repetition where either side is not usable (see MAX_FAILED_SHARE) has no ratio.
      const pairs = [...Array(SETTINGS.reps).keys()].flatMap((rep) => {
        const a = rows.find((r) => r.workload === w && r.variant === 0 && r.rep === rep);
        const b = rows.find((r) => r.workload === w && r.variant === i && r.rep === rep);
        if (!usable(a) || !usable(b)) return [];
        return [{ part: b.perReq[PART]! / a.perReq[PART]!, total: b.perReq.total! / a.perReq.total!, rps: b.rps / a.rps }];
      });
      const fmt = (k: 'part' | 'total' | 'rps') =>
        `${median(pairs.map((p) => p[k])).toFixed(3)} [${pairs.map((p) => p[k].toFixed(2)).join(' ')}]`;
      console.log(`${w} ${label(i)}/A: ${PART} ${fmt('part')}; total ${fmt('total')}; req/s ${fmt('rps')}`);
    }
  }
}

async function main() {
  const { pg, dataDir: pgDataDir } = await startBenchPostgres('bench-ab-pg-');
  const redis = await startRedisServer(await freePort());
  const children: Child[] = [];
  try {
    const databaseUrls = await migrateDatabases(pg);
    const data = await loadBenchData(databaseUrls, scaledSize(SETTINGS.scale));
    console.log(`data: ${data.summary}; trees: ${TREES.join(', ')}`);
    const keys = await generateLocalKeys();
    const base = {
      keys,
      databaseUrls,
      ports: {} as never,
      redisUrl: redis.url,
      logLevel: 'error',
      nodeEnv: 'production' as const,
      eventNamespace: 'bench-ab:',
      extra: { gateway: benchGatewayLimits() },
    };
    const variants: Variant[] = [];
    for (const [i, tree] of TREES.entries()) variants.push(await startVariant(tree, i, base, children));
    const worker = spawnTs('bench/load-worker.ts', {}, false);
    children.push(worker);
    const shared: Record<string, Probe> = { postgres: { kind: 'tree', pid: postmasterPid(pgDataDir) } };
    const redisPid = findPids('redis-server', `:${redis.port}`)[0];
    if (redisPid) shared.redis = { kind: 'process', pid: redisPid };

    const sign = await createUserTokenSigner(keys);
    const allCustomers = data.users.filter((u) => u.role === 'CUSTOMER');
    const customers = allCustomers.slice(0, SETTINGS.users);
    const tokens = await Promise.all(customers.map((u) => sign(u.id)));
    // First visits: users apart from the returning ones, and no variant's rotation sends one twice.
    const firstVisitTokens = WORKLOADS.includes('account-first-visit')
      ? await Promise.all(allCustomers.slice(SETTINGS.users, SETTINGS.users + SETTINGS.firstVisitUsers).map((u) => sign(u.id)))
      : [];
    const accountPage = [JSON.stringify({ query: printDocument(ACCOUNT_PAGE), variables: { n: 20 } })];
    const jobs: Record<string, { bodies: string[]; auth: unknown; firstVisits?: boolean }> = {
      storefront: { bodies: data.categoryIds.map((c) => JSON.stringify({ query: STOREFRONT, variables: { c } })), auth: { mode: 'none' } },
      account: { bodies: accountPage, auth: { mode: 'bearer', tokens } },
      'account-first-visit': { bodies: accountPage, auth: { mode: 'bearer', tokens: firstVisitTokens }, firstVisits: true },
    };
    const jobFor = (w: string, variant: number) => {
      const { firstVisits, ...job } = jobs[w]!;
      return firstVisits ? { ...job, rotation: `first-visit:${variant}` } : job;
    };
    // Unmeasured first: JIT, statement caches and pools warm in every variant before any comparison.
    for (const [i, v] of variants.entries())
      for (const w of WORKLOADS)
        await runJob(worker, {
          kind: 'http',
          url: v.url,
          ...jobFor(w, i),
          connections: SETTINGS.connections,
          warmupS: 0,
          durationS: SETTINGS.primeS,
        });
    const rows: Row[] = [];
    for (let rep = 0; rep < SETTINGS.reps; rep++) {
      for (const w of WORKLOADS) {
        const order = variants.map((_, i) => (i + rep) % variants.length);
        for (const i of order) {
          const v = variants[i]!;
          const job = {
            kind: 'http',
            url: v.url,
            ...jobFor(w, i),
            connections: SETTINGS.connections,
            warmupS: SETTINGS.warmupS,
            durationS: SETTINGS.durationS,
          };
          const { result, cpu, rssMb } = await measureJob<LoadResult>(worker, { ...v.probes, ...shared }, job, v.gatewayPid);
          if (result.failed) console.error(`${w} ${i}: ${result.failed} of ${result.requests} failed`);
          const perReq = Object.fromEntries(Object.entries(cpu).map(([k, ms]) => [k, result.count ? ms / result.count : 0]));
          perReq.total = Object.values(perReq).reduce((a, b) => a + b, 0);
          rows.push({
            workload: w,
            variant: i,
            rep,
            rps: result.rps,
            failedShare: result.requests ? result.failed / result.requests : 1,
            perReq,
            gatewayRssMb: rssMb,
          });
          console.log(
            `${w} ${String.fromCharCode(65 + i)} rep ${rep + 1}: ${result.rps.toFixed(0)}/s; CPU ms/req gw ${perReq.gateway!.toFixed(2)} sub ${perReq.subgraphs!.toFixed(2)} pg ${perReq.postgres!.toFixed(2)} total ${perReq.total.toFixed(2)}; gateway RSS ${rssMb.toFixed(0)} MB`,
          );
        }
      }
    }
    worker.proc.send({ stop: true });
    report(rows);
  } finally {
    await Promise.allSettled(children.map((c) => c.stop()));
    await redis.stop();
    await pg.stop();
  }
}

await main();
process.exit(0);
