import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { generateLocalKeys, localEnv } from '../platform/local-env.js';
import { ROOT } from '../platform/paths.js';
import type { LocalKeys } from '../platform/local-env.js';
import type { Subgraph } from '../platform/migrate.js';
import { freePort } from '../scripts/free-port.js';
import type { startRedisServer } from '../scripts/redis-server.js';
import { freeServicePorts, migrateDatabases, scaledSize } from './databases.js';
import type { EmbeddedPostgres } from './databases.js';
import { loadBenchData } from './load-data.js';
import type { BenchData } from './load-data.js';
import { findPids, postmasterPid } from './proc-cpu.js';
import { benchGatewayLimits, gatewayNodeOptions } from './shipped-node-options.js';
import type { Probe } from './proc-cpu.js';
import { spawnTs, waitForGraphql, waitForMessage } from './processes.js';
import type { Child } from './processes.js';
import { GATEWAYS, isOurs } from './gateways.js';
import type { GatewayName } from './gateways.js';
import { ONLY, SETTINGS } from './settings.js';

/** Everything a workload runner needs of the running benchmark: data, credentials, gateways, probes. */
export interface Stack {
  data: BenchData;
  keys: LocalKeys;
  urls: Partial<Record<GatewayName, string>>;
  skipped: Partial<Record<GatewayName, string>>;
  probes: Record<GatewayName | 'subgraphs' | 'postgres' | 'redis', Probe | undefined>;
  catalogUrl: string;
  /** Each subgraph's base URL, by name (what SUBGRAPH_URLS holds). */
  subgraphUrls: Record<string, string>;
  oursMetricsUrl: string;
  worker: Child;
  restartSubgraphs(extra: Record<string, string>): Promise<void>;
  /** Our gateway again on its port, its env plus `extra` (needs it running: BENCH_GATEWAYS has ours). */
  restartOurs(extra: Record<string, string>): Promise<void>;
  statements(): Promise<number>;
}

type RedisServer = Awaited<ReturnType<typeof startRedisServer>>;
type Envs = ReturnType<typeof localEnv>;

/** Migrates every subgraph's database and loads the data set (scaled by BENCH_SCALE). */
async function loadData(pg: EmbeddedPostgres) {
  const databaseUrls = await migrateDatabases(pg);
  const loadStarted = Date.now();
  const data = await loadBenchData(databaseUrls, scaledSize(SETTINGS.scale));
  const loadSeconds = (Date.now() - loadStarted) / 1000;
  console.log(`data: ${data.summary}; loaded with COPY + ANALYZE in ${loadSeconds.toFixed(1)} s`);
  return { databaseUrls, data, loadSeconds };
}

/** The env of every service, from localEnv, on fresh ports. */
async function servicesEnv(keys: LocalKeys, databaseUrls: Record<Subgraph, string>, redis: RedisServer) {
  const ports = await freeServicePorts();
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
    // The peers have no rate limits; ours keeps its limiter running, with the shipped leases.
    extra: { gateway: benchGatewayLimits() },
  });
  return { envs, gatewayPort: ports.gateway, oursMetricsPort };
}

/**
 * Ours as production runs it (the Dockerfile's and docker-compose.yml's `dist/gateway/index.js`):
 * compiled by `npm run build` first, not transpiled by tsx as it loads (which holds every source
 * file's text and transform in memory: RSS a deployment never has). BENCH_COMPILED=0: from source.
 */
async function compiledGateway(): Promise<string> {
  if (process.env.BENCH_COMPILED === '0') return 'gateway/index.ts';
  await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT });
  return 'dist/gateway/index.js';
}

/** The gateways of BENCH_GATEWAYS, each in its own process; one that cannot start is skipped, with why. */
async function startGateways(envs: Envs, gatewayPort: number, redis: RedisServer, children: Child[]) {
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
      const url = isOurs(name) ? `http://127.0.0.1:${extraEnv.PORT}/graphql` : ((await waitForMessage(child, 'ready')) as string);
      await waitForGraphql(url);
      urls[name] = url;
      pids[name] = child.proc.pid!;
    } catch (err) {
      skipped[name] = String(err).slice(0, 300);
      console.error(`${name}: cannot run: ${skipped[name]}`);
    }
  };
  const ours = await compiledGateway();
  const nodeOptions = gatewayNodeOptions();
  await start('ours', ours, { ...envs.gateway, ...nodeOptions, PORT: String(gatewayPort) });
  // A second instance of ours with both caches off: the engine alone, on its own ports.
  await start('ours-nocache', ours, {
    ...envs.gateway,
    ...nodeOptions,
    PORT: String(await freePort()),
    METRICS_PORT: String(await freePort()),
    ENTITY_CACHE_ENABLED: 'false',
    RESPONSE_CACHE_ENABLED: 'false',
  });
  // APOLLO_TELEMETRY_DISABLED: otherwise @apollo/server reports to Apollo and probes cloud metadata.
  const peer = async () => ({ PORT: String(await freePort()), APOLLO_TELEMETRY_DISABLED: 'true', BENCH_SUBGRAPH_URLS: subgraphUrls });
  await start('stock', 'bench/stock-gateway.ts', await peer());
  await start('stock-rc', 'bench/stock-gateway.ts', { ...(await peer()), BENCH_RESPONSE_CACHE_REDIS: redis.url });
  for (const [name, mode] of [
    ['hive', 'plain'],
    ['hive-rc', 'response-cache'],
    ['hive-rust', 'rust'],
  ] as const)
    await start(name, 'bench/hive-gateway.ts', {
      ...(await peer()),
      DO_NOT_TRACK: '1',
      BENCH_HIVE_MODE: mode,
      BENCH_RESPONSE_CACHE_REDIS: redis.url,
    });
  return { urls, skipped, pids };
}

const tree = (pid: number | undefined): Probe | undefined => (pid ? { kind: 'tree', pid } : undefined);

/**
 * Loads the data and starts the subgraphs process, the gateways under test and the load worker
 * (every child is pushed onto `children`, for the caller to stop).
 */
export async function startStack(pgDataDir: string, pg: EmbeddedPostgres, redis: RedisServer, children: Child[]) {
  const { databaseUrls, data, loadSeconds } = await loadData(pg);
  const keys = await generateLocalKeys();
  const { envs, gatewayPort, oursMetricsPort } = await servicesEnv(keys, databaseUrls, redis);
  const debugPort = await freePort();
  const subgraphEnv = JSON.stringify({ users: envs.users, catalog: envs.catalog, orders: envs.orders, billing: envs.billing });
  let subgraphs: Child | undefined;
  const startSubgraphs = async (extra: Record<string, string> = {}) => {
    subgraphs = spawnTs('bench/subgraphs-process.ts', { BENCH_SUBGRAPH_ENV: subgraphEnv, BENCH_DEBUG_PORT: String(debugPort), ...extra });
    children.push(subgraphs);
    await waitForMessage(subgraphs, 'ready');
  };
  await startSubgraphs();
  const { urls, skipped, pids } = await startGateways(envs, gatewayPort, redis, children);

  const worker = spawnTs('bench/load-worker.ts', {}, false);
  children.push(worker);
  const redisPid = findPids('redis-server', `:${redis.port}`)[0];
  const stack: Stack = {
    data,
    keys,
    urls,
    skipped,
    worker,
    catalogUrl: databaseUrls.catalog,
    subgraphUrls: JSON.parse(envs.gateway.SUBGRAPH_URLS!) as Record<string, string>,
    oursMetricsUrl: `http://127.0.0.1:${oursMetricsPort}/metrics`,
    probes: {
      ...(Object.fromEntries(GATEWAYS.map((g) => [g, tree(pids[g])])) as Record<GatewayName, Probe | undefined>),
      subgraphs: tree(subgraphs!.proc.pid),
      postgres: tree(postmasterPid(pgDataDir)),
      redis: redisPid ? { kind: 'process', pid: redisPid } : undefined,
    },
    async restartSubgraphs(extra) {
      await subgraphs!.stop();
      await startSubgraphs(extra);
      stack.probes.subgraphs = tree(subgraphs!.proc.pid);
    },
    async restartOurs(extra) {
      await children.find((c) => c.proc.pid === pids.ours)?.stop();
      const child = spawnTs('gateway/index.ts', { ...envs.gateway, ...gatewayNodeOptions(), PORT: String(gatewayPort), ...extra });
      children.push(child);
      await waitForGraphql(urls.ours!);
      pids.ours = child.proc.pid!;
      stack.probes.ours = tree(pids.ours);
    },
    statements: async () => ((await (await fetch(`http://127.0.0.1:${debugPort}/`)).json()) as { total: number }).total,
  };
  return { stack, loadSeconds };
}
