import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../scripts/embedded-postgres.js';
import { freePort } from '../scripts/free-port.js';
import { startRedisServer } from '../scripts/redis-server.js';
import type { Child } from './processes.js';
import { runSubscriptionBench, summarize, writeReport } from './report.js';
import type { Run } from './report.js';
import { runCheckoutWorkload, runDataloader, runHttpWorkload, runMixedWorkload } from './runs.js';
import { ONLY, SETTINGS, WORKLOADS, envNumber } from './settings.js';
import { startStack } from './stack.js';
import { sanity, workloadsOf } from './workloads.js';

/**
 * `npm run bench`: our gateway, the stock Apollo gateway and Hive Gateway side by side over the
 * same subgraphs process and supergraph, on one freshly loaded data set. Every process (Postgres,
 * Redis, subgraphs, the gateway under test, the load generator) shares this machine's cores, so:
 * - the gateways are interleaved within every repetition (A B C, then B C A, then C A B), and the
 *   ratios are taken per repetition between runs minutes apart at most, then summarised;
 * - CPU per request is read per process from /proc (bench/proc-cpu.ts) over each measured window:
 *   the gateway under test, the subgraphs process, Postgres (postmaster and all its backends), Redis;
 * - every process runs with NODE_ENV=production and without tsx's source maps (bench/processes.ts).
 *
 * Modules: settings.ts (the BENCH_* knobs), stack.ts (data, processes, probes), workloads.ts (what
 * is sent), runs.ts (the per-workload runners), measure.ts (CPU and cache counters), report.ts.
 */
/**
 * The machine's 1-minute load average every 10 s while the workloads run: the benchmark shares its
 * cores with whatever else runs, and the report says how busy they were.
 */
function sampleLoad() {
  const samples = [os.loadavg()[0]!];
  const timer = setInterval(() => samples.push(os.loadavg()[0]!), 10_000);
  return {
    stop: () => {
      clearInterval(timer);
      const sorted = samples.sort((a, b) => a - b);
      return { min: sorted[0]!, median: sorted[Math.floor(sorted.length / 2)]!, max: sorted.at(-1)! };
    },
  };
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
    const load = sampleLoad();
    for (const [name, workload] of Object.entries(w.http).filter(([n]) => WORKLOADS.includes(n)))
      runs.push(...(await runHttpWorkload(stack, w, name, workload)));
    const mixed = WORKLOADS.includes('mixed') ? await runMixedWorkload(stack, w) : [];
    if (WORKLOADS.includes('checkout')) runs.push(...(await runCheckoutWorkload(stack, w)));
    const dataloader = stack.urls.ours && WORKLOADS.includes('dataloader') ? await runDataloader(stack, w) : [];
    stack.worker.proc.send({ stop: true });
    await Promise.all(children.map((c) => c.stop()));

    const subscriptions = await runSubscriptionBench(envNumber('BENCH_SUBSCRIBERS', 200));
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
      load: load.stop(),
      totalSeconds: (Date.now() - t0) / 1000,
    });
  } finally {
    await Promise.allSettled(children.map((c) => c.stop()));
    await redis.stop();
    await pg.stop();
  }
}

await main();
process.exit(0);
