import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../platform/paths.js';
import { GATEWAYS, LABEL } from './gateways.js';
import type { GatewayName } from './gateways.js';
import type { StalenessReport } from './staleness.js';

export type { GatewayName } from './gateways.js';
type Peer = Exclude<GatewayName, 'ours'>;

/** CPU ms per unit (request, checkout, or read), per process, over the measured window. */
export interface CpuPer {
  gateway: number;
  subgraphs: number;
  postgres: number;
  redis: number;
  total: number;
}

/** One measured run: one workload, one gateway, one repetition. */
export interface Run {
  workload: string;
  gateway: GatewayName;
  rep: number;
  rps: number;
  p50: number;
  p99: number;
  failed: number;
  count: number;
  cpuPer: CpuPer;
  /** The cache hit rate over the run: ours from its counters, a peer's response cache from its hit marks (null: none observable). */
  hitRate: number | null;
  /** The gateway's highest resident set during the measured window, MB (absent in older results). */
  rssMb?: number;
}

export interface MixedRun extends Run {
  checkoutsPerS: number;
  checkoutsFailed: number;
  /** Why the last failed checkout failed (absent in older results or when none did). */
  checkoutError?: string;
  staleness: StalenessReport;
  maxAgeMs: number;
}

export interface DataloaderRow {
  mode: string;
  statementsPerOp: number;
  /** Of the pages counted for statementsPerOp: any failure makes it an undercount. */
  failedOps: number;
  rps: number;
  p50: number;
  p99: number;
  /** Failed requests of the measured run. */
  failed: number;
  cpuPer: CpuPer;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}
export interface Cell {
  rps: Spread;
  p50: number;
  p99: number;
  failed: number;
  cpuPer: CpuPer;
  hitRate: number | null;
  rssMb: number;
  reps: number[];
}
export interface Row {
  workload: string;
  results: Partial<Record<GatewayName, Cell>>;
  /** ours/peer req/s, taken per repetition (runs of one repetition are adjacent in time). */
  ratios: Partial<Record<Peer, Spread>>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : 0;
};
const spread = (xs: number[]): Spread => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

function cellOf(runs: Run[]): Cell {
  const cpu = (k: keyof CpuPer) => median(runs.map((r) => r.cpuPer[k]));
  const hits = runs.map((r) => r.hitRate).filter((h): h is number => h !== null);
  return {
    rps: spread(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    failed: runs.reduce((n, r) => n + r.failed, 0),
    cpuPer: { gateway: cpu('gateway'), subgraphs: cpu('subgraphs'), postgres: cpu('postgres'), redis: cpu('redis'), total: cpu('total') },
    hitRate: hits.length ? median(hits) : null,
    rssMb: median(runs.map((r) => r.rssMb ?? 0)),
    reps: runs.map((r) => Math.round(r.rps * 10) / 10),
  };
}

export function summarize(runs: Run[]): Row[] {
  const workloads = [...new Set(runs.map((r) => r.workload))];
  return workloads.map((workload) => {
    const mine = runs.filter((r) => r.workload === workload);
    const row: Row = { workload, results: {}, ratios: {} };
    for (const g of GATEWAYS) {
      const of = mine.filter((r) => r.gateway === g);
      if (of.length) row.results[g] = cellOf(of);
    }
    for (const peer of GATEWAYS.filter((g): g is Peer => g !== 'ours')) {
      const ratios = mine
        .filter((r) => r.gateway === 'ours')
        .flatMap((o) => {
          const p = mine.find((r) => r.gateway === peer && r.rep === o.rep);
          return p && p.rps > 0 ? [o.rps / p.rps] : [];
        });
      if (ratios.length) row.ratios[peer] = spread(ratios);
    }
    return row;
  });
}

/** bench/subscription-latency.ts in its own process (its own stack; ours only: the peers serve no subscriptions). */
export async function runSubscriptionBench(subscribers: number): Promise<unknown> {
  if (subscribers <= 0) return null;
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/subscription-latency.ts')], {
      env: { ...process.env, SUBSCRIBERS: String(subscribers), BROADCAST_EVENTS: process.env.BENCH_BROADCAST_EVENTS ?? '10' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('exit', resolve);
  });
  if (code !== 0) return { error: `subscription bench exited with ${code}` };
  return JSON.parse(await readFile(path.join(ROOT, 'bench/results/subscription-latency.json'), 'utf8'));
}

const fmt = (n: number | undefined, digits = 0) => (n === undefined || Number.isNaN(n) ? '—' : n.toFixed(digits));
const fmtSpread = (s: Spread | undefined, digits: number, unit = '') =>
  s ? `${fmt(s.median, digits)}${unit} (${fmt(s.min, digits)}..${fmt(s.max, digits)})` : '—';
const fmtRate = (h: number | null | undefined) => (h === null || h === undefined ? 'n.a.' : `${(h * 100).toFixed(0)}%`);
const fmtCpu = (c: CpuPer) =>
  `${c.gateway.toFixed(2)} / ${c.subgraphs.toFixed(2)} / ${c.postgres.toFixed(2)} / ${c.redis.toFixed(2)} = **${c.total.toFixed(2)}**`;

const fmtMb = (mb: number) => (mb ? mb.toFixed(0) : '—');

function throughputTable(rows: Row[]): string[] {
  const lines = [
    '| workload | gateway | req/s median (min..max) | p50 / p99 ms | gateway CPU ms/request | whole-stack CPU ms/request (gateway / subgraphs / Postgres / Redis) | gateway RSS under load, MB | cache hit rate | failed |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    for (const g of GATEWAYS) {
      const c = row.results[g];
      if (!c) continue;
      const name = row.workload === 'checkout' ? 'checkout (per checkout)' : row.workload;
      lines.push(
        `| ${name} | ${LABEL[g]} | ${fmtSpread(c.rps, 1)} | ${fmt(c.p50)} / ${fmt(c.p99)} | ${fmt(c.cpuPer.gateway, 2)} | ${fmtCpu(c.cpuPer)} | ${fmtMb(c.rssMb)} | ${fmtRate(c.hitRate)} | ${c.failed} |`,
      );
    }
  }
  return lines;
}

function ratioTable(rows: Row[]): string[] {
  const peers = GATEWAYS.filter((g) => g !== 'ours' && rows.some((r) => r.ratios[g]));
  const lines = [`| workload | ${peers.map((p) => `ours / ${LABEL[p]}`).join(' | ')} |`, `|---|${peers.map(() => '---:').join('|')}|`];
  for (const row of rows) {
    lines.push(`| ${row.workload} | ${peers.map((p) => fmtSpread(row.ratios[p as Exclude<GatewayName, 'ours'>], 2, '×')).join(' | ')} |`);
  }
  return lines;
}

function mixedTable(mixed: MixedRun[]): string[] {
  if (!mixed.length) return [];
  const maxAgeS = (mixed[0]!.maxAgeMs / 1000).toFixed(0);
  const lines = [
    `| mixed, gateway | reads/s | checkouts/s | checkouts failed | read p50 / p99 ms | stock changes scored | staleness p50 / p99 / max ms | unobserved | **views staler than 1 s** | views stale > 100 ms | views staler than max-age (${maxAgeS} s) | gateway CPU ms per read | whole-stack CPU ms per read, checkouts included | RSS MB | cache hit rate |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const g of GATEWAYS) {
    const runs = mixed.filter((r) => r.gateway === g);
    if (!runs.length) continue;
    const st = runs.map((r) => r.staleness);
    const sum = (f: (s: StalenessReport) => number) => st.reduce((n, s) => n + (f(s) ?? 0), 0);
    const scored = st.filter((s) => s.stalenessMs);
    const staleness = scored.length
      ? `${fmt(median(scored.map((s) => s.stalenessMs!.p50)))} / ${fmt(median(scored.map((s) => s.stalenessMs!.p99)))} / ${fmt(Math.max(...scored.map((s) => s.stalenessMs!.max)))}`
      : '—';
    const views = sum((s) => s.views);
    const hits = runs.map((r) => r.hitRate).filter((h): h is number => h !== null);
    const cell = cellOf(runs);
    const failed = runs.reduce((n, r) => n + r.checkoutsFailed, 0);
    const why = runs.map((r) => r.checkoutError).find(Boolean);
    lines.push(
      `| ${LABEL[g]} | ${fmtSpread(cell.rps, 1)} | ${fmt(median(runs.map((r) => r.checkoutsPerS)), 1)} | ${failed}${why ? ` (${why})` : ''} | ${fmt(cell.p50)} / ${fmt(cell.p99)} | ${sum((s) => s.changes)} | ${staleness} | ${sum((s) => s.unobserved)} | ` +
        `**${sum((s) => s.staleOver1S)} of ${views}** | ${sum((s) => s.staleOver100Ms)} | ${sum((s) => s.staleOverMaxAge)} | ${fmt(cell.cpuPer.gateway, 2)} | ${fmt(cell.cpuPer.total, 2)} | ${fmtMb(cell.rssMb)} | ${hits.length ? fmtRate(median(hits)) : 'n.a.'} |`,
    );
  }
  return lines;
}

export interface Report {
  size: string;
  loadSeconds: number;
  rows: Row[];
  runs: Run[];
  mixed: MixedRun[];
  dataloader: DataloaderRow[];
  subscriptions: any;
  skipped: Partial<Record<GatewayName, string>>;
  settings: Record<string, number>;
  /** The 1-minute load average over the workloads' runs (absent in older results). */
  load?: { min: number; median: number; max: number };
  totalSeconds: number;
}

function markdown(r: Report, machine: Record<string, string | number>): string {
  const s = r.settings;
  const load = r.load
    ? `; load average (1 min) during the runs ${r.load.median.toFixed(1)} median (${r.load.min.toFixed(1)}..${r.load.max.toFixed(1)})`
    : '';
  const keys = s.warmupPass
    ? `a warm-up of one pass over the run's keys (a friendly setup: every key cached before it is timed)`
    : `${s.warmupS} s warm-up (time only: no key visited beforehand)`;
  const lines = [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}${load}. Run ${new Date().toISOString()}, ${r.totalSeconds.toFixed(0)} s in all.`,
    `Data: ${r.size} (COPY + ANALYZE: ${r.loadSeconds.toFixed(1)} s). Load: ${s.connections} connections (autocannon), ${keys} + ${s.durationS} s measured per run, ${s.reps} repetitions with the gateways interleaved in each (rotating order); medians, (min..max) over repetitions. Keys: storefront category pages 1-3 by cursor, categories Zipf(1.0), page p 1/p as often; partner SKUs Zipf(1.0) over all products; account: returning users (a rotation over ${s.rotatedUsers}); account-first-visit: no user twice per gateway; mixed: ${s.mixedReaders} readers over ${s.mixedCategories} categories + ${s.checkoutConcurrency} checkout loops (placeOrder, invoice, payInvoice) buying the products on those pages.`,
    "Fair baselines: every process runs with NODE_ENV=production and without source maps; all gateways share one subgraphs process, Postgres and Redis. CPU is read from /proc/<pid>/stat (utime + stime) over each measured window: the gateway under test, the subgraphs process, Postgres (postmaster and every backend, exited ones included), Redis. RSS: the gateway process's highest VmRSS sampled every 500 ms of the measured window.",
    '',
    ...throughputTable(r.rows),
    '',
    'ours / peer: req/s within each repetition, median (min..max).',
    '',
    ...ratioTable(r.rows),
    '',
    ...mixedTable(r.mixed),
    '',
  ];
  if (r.mixed.length) {
    lines.push(
      "Staleness: from a stock change's commit (bounded below by its transaction start, `occurred_at` of its outbox row) to the first response showing it; changes committed in the last second of a run are not scored. A product view is stale when it misses a change that committed before its request was sent.",
      "Checkouts: each loop places an order, polls `order(id) { invoice { id } }` through the same gateway (every 10 ms, up to 10 s) until the invoice its event creates shows, then pays it; a failed checkout is one that errs or whose poll never sees the invoice. A cache that keeps answering the poll with the invoice missing stalls every loop: that gateway's reads then run beside fewer writes (fewer stock changes, less load on the subgraphs and Postgres), so compare reads/s only where checkouts/s are alike.",
      '',
    );
  }
  if (r.dataloader.length) {
    lines.push(
      '| account page, ours | SQL statements / operation | req/s | p50 / p99 ms | CPU ms per request (total) |',
      '|---|---:|---:|---:|---:|',
      ...r.dataloader.map(
        (d) =>
          `| DataLoader ${d.mode} | ${d.statementsPerOp.toFixed(1)}${d.failedOps ? ` (${d.failedOps} pages failed: an undercount)` : ''} | ${d.rps.toFixed(1)} | ${fmt(d.p50)} / ${fmt(d.p99)} | ${d.cpuPer.total.toFixed(2)} |`,
      ),
      '',
      "DataLoader rows: our gateway with its entity and response caches off, so every fetch of the page reaches the subgraphs; statements counted in the subgraphs' driver over 50 pages, one user each, each page checked to answer without errors.",
      '',
    );
  }
  const subs = r.subscriptions;
  if (subs?.targeted) {
    lines.push(
      `Real time (ours only; the peers serve no subscriptions over this supergraph): ${subs.subscribers} subscribers; targeted orderStatusChanged p50 ${subs.targeted.latencyMs.p50} ms / p99 ${subs.targeted.latencyMs.p99} ms (${subs.targeted.delivered}/${subs.targeted.expected} delivered); broadcast stockChanged p50 ${subs.broadcast.latencyMs.p50} ms / p99 ${subs.broadcast.latencyMs.p99} ms (${subs.broadcast.delivered}/${subs.broadcast.expected}), commit to receipt.`,
      '',
    );
  } else if (subs) lines.push(`Real time: ${JSON.stringify(subs)}`, '');
  for (const [g, why] of Object.entries(r.skipped)) lines.push(`Skipped ${g}: ${why}`, '');
  lines.push(
    'Notes: ours gets `Authorization: Bearer <user JWT>` and signs service tokens itself; the peers get the SDL without the authorization links (they enforce none)',
    'and forward a gateway-signed `x-internal-token` the client minted. Partner: APQ by hash for ours and stock (registered first); Hive Gateway ships no APQ, so it gets the full document.',
    "Peers' caches: stock + response cache is `@apollo/server-plugin-response-cache` with the server's cache on Redis (KeyvAdapter + Keyv + @keyv/redis), cacheability from the subgraphs' Cache-Control headers (their `@cacheControl` hints), PRIVATE answers per user id; Hive + response cache is `responseCaching` on Redis (`@graphql-mesh/cache-redis`) with the same hints copied into `ttlPerSchemaCoordinate` / `scopePerSchemaCoordinate`, unhinted answers uncached; Hive + Rust planner is `unifiedGraphHandler` of `@graphql-hive/router-runtime`.",
    "Cache hit rate: ours from its counters (the response cache's where the workload uses it, else the entity cache's lookups); a peer's response cache from its answers (Apollo's plugin sets `age` on a hit, Hive's says `hit: true` in the extensions); n.a. where there is no cache.",
  );
  return `${lines.join('\n')}\n`;
}

const README_BEGIN = '<!-- bench:results:begin -->';
const README_END = '<!-- bench:results:end -->';

export async function writeReport(r: Report): Promise<string> {
  const cpus = os.cpus();
  const machine = {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
  };
  const md = markdown(r, machine);
  await mkdir(path.join(ROOT, 'bench/results'), { recursive: true });
  // BENCH_RESULTS_NAME: trial runs (one workload, fewer gateways, small scale) without replacing latest.*.
  const name = process.env.BENCH_RESULTS_NAME ?? 'latest';
  await writeFile(path.join(ROOT, `bench/results/${name}.md`), md);
  await writeFile(path.join(ROOT, `bench/results/${name}.json`), `${JSON.stringify({ machine, ...r }, null, 2)}\n`);
  // Only a full run (default scale, into latest.*) replaces the results in docs/benchmarks.md.
  if (name === 'latest' && r.settings.scale === 1) {
    const file = path.join(ROOT, 'docs/benchmarks.md');
    const readme = await readFile(file, 'utf8');
    const [before, rest] = readme.split(README_BEGIN);
    const after = rest?.split(README_END)[1];
    if (before !== undefined && after !== undefined) await writeFile(file, `${before}${README_BEGIN}\n${md}${README_END}${after}`);
  }
  console.log(md);
  return md;
}
