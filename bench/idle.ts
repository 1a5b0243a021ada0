import { generateLocalKeys, localEnv } from '../platform/local-env.js';
import { freePort } from '../scripts/free-port.js';
import { startRedisServer } from '../scripts/redis-server.js';
import { freeServicePorts, migrateDatabases, startBenchPostgres } from './databases.js';
import { cpuDelta, findPids, postmasterPid, sampleCpu } from './proc-cpu.js';
import type { Probe } from './proc-cpu.js';
import { spawnTs, waitForGraphql, waitForMessage } from './processes.js';
import { gatewayNodeOptions } from './shipped-node-options.js';
import type { Child } from './processes.js';

/**
 * `npm run bench:idle`: CPU a production-shaped deployment burns with no traffic at all. Each
 * service is its own process as `npm run start:<service>` starts it (NODE_ENV=production, Redis
 * for events, one Postgres), plus the stock @apollo/gateway over the same subgraphs for reference.
 * After IDLE_SETTLE_S (startup work done), CPU per process is read from /proc over IDLE_S seconds.
 */
const IDLE_S = Number(process.env.IDLE_S ?? 10);
const SETTLE_S = Number(process.env.IDLE_SETTLE_S ?? 5);

const services = ['users', 'catalog', 'orders', 'billing', 'gateway'] as const;
const entry = (s: (typeof services)[number]) => (s === 'gateway' ? 'gateway/index.ts' : `subgraphs/${s}/index.ts`);

async function main() {
  const { pg, dataDir } = await startBenchPostgres('bench-idle-pg-');
  const redis = await startRedisServer(await freePort());
  const children: Child[] = [];
  try {
    const databaseUrls = await migrateDatabases(pg);
    const ports = await freeServicePorts();
    const envs = localEnv({
      keys: await generateLocalKeys(),
      databaseUrls,
      ports,
      redisUrl: redis.url,
      logLevel: 'warn',
      nodeEnv: 'production',
      eventNamespace: 'idle:',
    });
    const probes: Record<string, Probe> = {};
    for (const s of services) {
      const child = spawnTs(entry(s), s === 'gateway' ? { ...envs[s], ...gatewayNodeOptions() } : envs[s]);
      children.push(child);
      await waitReady(`http://127.0.0.1:${ports[s]}/health/ready`);
      probes[s] = { kind: 'tree', pid: child.proc.pid! };
    }
    // The same {name: url} map the gateway's SUBGRAPH_URLS holds.
    const subgraphUrls = envs.gateway.SUBGRAPH_URLS!;
    const stock = spawnTs('bench/stock-gateway.ts', {
      PORT: String(await freePort()),
      APOLLO_TELEMETRY_DISABLED: 'true',
      BENCH_SUBGRAPH_URLS: subgraphUrls,
    });
    children.push(stock);
    await waitForGraphql((await waitForMessage(stock, 'ready')) as string);
    probes['stock gateway'] = { kind: 'tree', pid: stock.proc.pid! };
    probes.postgres = { kind: 'tree', pid: postmasterPid(dataDir) };
    const redisPid = findPids('redis-server', `:${redis.port}`)[0] ?? findPids('redis-server', String(redis.port))[0];
    if (redisPid) probes.redis = { kind: 'process', pid: redisPid };

    await new Promise((r) => setTimeout(r, SETTLE_S * 1000));
    const before = sampleCpu(probes);
    const started = performance.now();
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const seconds = (performance.now() - started) / 1000;
    const used = cpuDelta(before, sampleCpu(probes));
    console.log(`Idle CPU over ${seconds.toFixed(1)} s (after ${SETTLE_S} s settling), ms of CPU per second, from /proc/<pid>/stat:`);
    console.log('| process | CPU ms/s |\n|---|---:|');
    let ours = 0;
    for (const [name, ms] of Object.entries(used)) {
      console.log(`| ${name} | ${(ms / seconds).toFixed(1)} |`);
      if (services.includes(name as never)) ours += ms;
    }
    console.log(`| ours, all five services | ${(ours / seconds).toFixed(1)} |`);
  } finally {
    await Promise.allSettled(children.map((c) => c.stop()));
    await redis.stop();
    await pg.stop();
  }
}

async function waitReady(url: string, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms`);
}

await main();
process.exit(0);
