import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import type postgres from 'postgres';
import { inject } from 'vitest';
import { generateLocalKeys } from '../../platform/local-env.js';
import type { LocalKeys, LocalTopology } from '../../platform/local-env.js';
import type { Subgraph } from '../../platform/migrate.js';
import { ROOT } from '../../platform/paths.js';
import { freePort } from '../../scripts/free-port.js';
import type { ServiceName } from '../../scripts/local-supergraph.js';
import { SERVICES as ALL_SERVICES } from '../../platform/subgraphs.js';
import { startRedisServer } from '../../scripts/redis-server.js';
import type { RedisServerHandle } from '../../scripts/redis-server.js';
import { createDeploySecrets } from '../../scripts/deploy-secrets.js';
import { createTestDatabases } from './databases.js';
import { manifestEnvs } from './manifest-topology.js';
import { TEST_RATE_LIMITS, createApiClient, eventually, openSql } from './stack.js';
import type { ApiClient } from './stack.js';

const run = promisify(execFile);

/**
 * The production shape for fault tests: every service its own OS process, started exactly as
 * `npm run start:<service>` starts it (its index.ts, its environment parsed by its config), so
 * `kill -9` kills one service and nothing else. Each instance keeps its port across restarts.
 *
 *   const cluster = await startCluster({ instances: { billing: 2 }, extra: { orders: { X: '1' } } });
 *   await cluster.kill('billing');            // SIGKILL instance 0, waits for the exit
 *   await cluster.start('billing');           // same port, same environment (plus `env` overrides)
 *   await cluster.blackhole('billing');       // packets to and from its port dropped (nft): a dead host
 *   await cluster.redis.stop(); ... start();  // its own Redis (append-only, fsync always)
 *   await cluster.flushRedis();               // Redis loses everything it acknowledged
 *
 * The gateway reaches instance 0 of each subgraph (orders reaches catalog instance 0); further
 * instances serve their own port and run their own relays and consumers, as a second replica does.
 * Logs of each instance go to a file (`logs(name, i)`), JSON lines at LOG_LEVEL (`info` by default).
 */
export interface ClusterOptions {
  /** How many instances of each service (1 each by default). */
  instances?: Partial<Record<ServiceName, number>>;
  /** Extra environment per service (timeouts, TTLs, fault switches). */
  extra?: LocalTopology['extra'];
  logLevel?: string;
}

/**
 * How long an instance may take to answer /health/ready. One figure for every file, sized for a
 * loaded two-core machine (several engineers' suites, or CPU-bound work beside CI), where four
 * `tsx` processes starting at once took over a minute: a shorter one failed files there at random.
 */
const READY_TIMEOUT_MS = 180_000;

export interface Cluster extends ApiClient {
  /** The gateway's /graphql URL (instance 0). */
  url: string;
  keys: LocalKeys;
  databaseUrls: Record<Subgraph, string>;
  sql: Record<Subgraph, postgres.Sql>;
  eventNamespace: string;
  /** This cluster's own Redis server (stop/start/restart for outages). */
  redis: RedisServerHandle;
  /** A Redis client on it (for FLUSHALL, stream inspection); closed with the cluster. */
  redisClient: Redis;
  /** Base URL (`http://127.0.0.1:<port>`) of an instance. */
  baseUrl(name: ServiceName, instance?: number): string;
  /** Base URL of an instance's /metrics listener (METRICS_PORT, never the public port). */
  metricsUrl(name: ServiceName, instance?: number): string;
  port(name: ServiceName, instance?: number): number;
  pid(name: ServiceName, instance?: number): number | undefined;
  /** Starts an instance (again) on its port and waits until /health/ready answers 200. */
  start(name: ServiceName, instance?: number, env?: Record<string, string>): Promise<void>;
  /** Sends a signal (SIGKILL by default) and waits for the process to exit. */
  kill(name: ServiceName, instance?: number, signal?: NodeJS.Signals): Promise<void>;
  /** Graceful stop (SIGTERM), waiting for the exit. */
  stop(name: ServiceName, instance?: number): Promise<void>;
  /** The instance's exit code once it exited (null while it runs, or when a signal ended it). */
  exitCode(name: ServiceName, instance?: number): number | null;
  /** Drops every packet to and from the instance's port (no RST: connections hang, as to a dead host). */
  blackhole(name: ServiceName, instance?: number): Promise<void>;
  /** Removes that instance's drop rules. */
  restore(name: ServiceName, instance?: number): Promise<void>;
  /** FLUSHALL on the cluster's Redis: every stream, group and key it had acknowledged is gone. */
  flushRedis(): Promise<void>;
  /** The instance's log so far (JSON lines). */
  logs(name: ServiceName, instance?: number): string;
  close(): Promise<void>;
}

const SUBGRAPH_ENTRY: Record<ServiceName, string> = {
  users: 'subgraphs/users/index.ts',
  catalog: 'subgraphs/catalog/index.ts',
  orders: 'subgraphs/orders/index.ts',
  billing: 'subgraphs/billing/index.ts',
  gateway: 'gateway/index.ts',
};
const SERVICES: readonly ServiceName[] = ALL_SERVICES;

interface Instance {
  name: ServiceName;
  index: number;
  port: number;
  env: Record<string, string>;
  logFile: string;
  child?: ChildProcess;
  exited?: Promise<void>;
}

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const { adminUrl } = inject('postgres');
  const { prefix, databaseUrls } = await createTestDatabases(adminUrl);
  const redisDir = await mkdtemp(path.join(os.tmpdir(), 'supergraph-cluster-redis-'));
  const redis = await startRedisServer(await freePort(), { dataDir: redisDir });
  const logDir = await mkdtemp(path.join(os.tmpdir(), 'supergraph-cluster-logs-'));
  const keys = await generateLocalKeys();
  const instances = new Map<string, Instance>();
  const key = (name: ServiceName, index: number) => `${name}#${index}`;

  const ports = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await freePort()]))) as Record<ServiceName, number>;
  // One source of configuration: each service gets the environment its Deployment declares (deploy/k8s/base),
  // with this machine's addresses and fresh keys (test/support/manifest-topology.ts), then the test's own extras.
  const registryDir = await mkdtemp(path.join(os.tmpdir(), 'supergraph-cluster-registry-'));
  const envs = manifestEnvs(
    await createDeploySecrets(keys),
    { ports, databaseUrls, redisUrl: redis.url, registryDir },
    { logLevel: opts.logLevel ?? 'info', eventNamespace: `${prefix}:` },
  );
  const extra: ClusterOptions['extra'] = { ...opts.extra, gateway: { ...TEST_RATE_LIMITS, ...opts.extra?.gateway } };
  for (const name of SERVICES) {
    const count = opts.instances?.[name] ?? 1;
    for (let index = 0; index < count; index++) {
      const port = index === 0 ? ports[name] : await freePort();
      instances.set(key(name, index), {
        name,
        index,
        port,
        env: { ...envs[name], ...extra[name], PORT: String(port), METRICS_PORT: String(await freePort()) },
        logFile: path.join(logDir, `${name}-${index}.log`),
      });
    }
  }
  const instance = (name: ServiceName, index = 0) => {
    const found = instances.get(key(name, index));
    if (!found) throw new Error(`no instance ${index} of ${name} in this cluster`);
    return found;
  };

  const start = async (name: ServiceName, index = 0, env: Record<string, string> = {}) => {
    const inst = instance(name, index);
    if (inst.child?.exitCode === null && inst.child.signalCode === null) throw new Error(`${name}#${index} is running`);
    Object.assign(inst.env, env);
    inst.child = spawnService(inst);
    const child = inst.child;
    inst.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await waitReady(inst, READY_TIMEOUT_MS);
  };

  const kill = async (name: ServiceName, index = 0, signal: NodeJS.Signals = 'SIGKILL') => {
    const inst = instance(name, index);
    const child = inst.child;
    if (child?.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    await inst.exited;
  };

  const fault = createBlackholes();
  const redisClient = new Redis(redis.url, { maxRetriesPerRequest: null, lazyConnect: true });
  redisClient.on('error', () => {}); // outages are the point of these tests
  const sql = openSql(databaseUrls);

  const close = async () => {
    await Promise.allSettled([...instances.values()].map((i) => kill(i.name, i.index)));
    await fault.close();
    redisClient.disconnect();
    await Promise.all(Object.values(sql).map((s) => s.end()));
    await redis.stop();
  };

  try {
    // Subgraphs need nothing from each other to start; the gateway reads the committed supergraph.
    await Promise.all([...instances.values()].filter((i) => i.name !== 'gateway').map((i) => start(i.name, i.index)));
    await Promise.all([...instances.values()].filter((i) => i.name === 'gateway').map((i) => start(i.name, i.index)));
  } catch (err) {
    await close();
    throw err;
  }

  const baseUrl = (name: ServiceName, index = 0) => `http://127.0.0.1:${instance(name, index).port}`;
  return {
    url: `${baseUrl('gateway')}/graphql`,
    keys,
    databaseUrls,
    sql,
    eventNamespace: `${prefix}:`,
    redis,
    redisClient,
    ...createApiClient(`${baseUrl('gateway')}/graphql`, sql),
    baseUrl,
    metricsUrl: (name, index = 0) => `http://127.0.0.1:${instance(name, index).env.METRICS_PORT}`,
    port: (name, index = 0) => instance(name, index).port,
    pid: (name, index = 0) => instance(name, index).child?.pid,
    start,
    kill,
    stop: (name, index = 0) => kill(name, index, 'SIGTERM'),
    exitCode: (name, index = 0) => instance(name, index).child?.exitCode ?? null,
    blackhole: (name, index = 0) => fault.drop(instance(name, index).port),
    restore: (name, index = 0) => fault.restore(instance(name, index).port),
    async flushRedis() {
      if (redisClient.status === 'wait') await redisClient.connect();
      await redisClient.flushall();
    },
    logs: (name, index = 0) => {
      try {
        return readFileSync(instance(name, index).logFile, 'utf8');
      } catch {
        return '';
      }
    },
    close,
  };
}

/** `node --import tsx <entry>`: the service is this pid (the tsx CLI would put a parent in between). */
function spawnService(inst: Instance): ChildProcess {
  const log = createWriteStream(inst.logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, SUBGRAPH_ENTRY[inst.name])], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ...inst.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  child.once('exit', () => log.end());
  return child;
}

async function waitReady(inst: Instance, timeoutMs: number): Promise<void> {
  const child = inst.child!;
  const tail = () => readFileSafe(inst.logFile).split('\n').slice(-15).join('\n');
  let exit: Error | undefined;
  await eventually(
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        // An exit while starting is final (e.g. 78, a configuration error): stop polling, report it now.
        exit = new Error(`${inst.name}#${inst.index} exited (${child.exitCode ?? child.signalCode}) while starting:\n${tail()}`);
        return true;
      }
      const res = await fetch(`http://127.0.0.1:${inst.port}/health/ready`, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
      return res?.status === 200 ? true : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  ).catch((err: unknown) => {
    // A timeout names the service and shows its log.
    throw new Error(`${inst.name}#${inst.index} not ready: ${(err as Error).message}\n${tail()}`);
  });
  if (exit) throw exit;
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Packet drops with nftables (root): one table per cluster, one rule pair per port. Rules are added
 * and removed by handle without recreating the table, so no packet slips through a gap.
 */
export function createBlackholes() {
  const table = `supergraph_fault_${randomUUID().slice(0, 8)}`;
  let ready: Promise<void> | undefined;
  const handles = new Map<number, number[]>();
  const nft = (...args: string[]) => run('nft', args);
  const ensureTable = () =>
    (ready ??= (async () => {
      await nft('add', 'table', 'inet', table);
      // Output hook: loopback packets leave through it once in each direction.
      await nft('add', 'chain', 'inet', table, 'out', '{ type filter hook output priority 0; policy accept; }');
    })());
  return {
    async drop(port: number) {
      if (handles.has(port)) return;
      await ensureTable();
      const added: number[] = [];
      for (const dir of ['dport', 'sport']) {
        const { stdout } = await nft('--echo', '--handle', 'add', 'rule', 'inet', table, 'out', 'tcp', dir, String(port), 'drop');
        const handle = /# handle (\d+)/.exec(stdout)?.[1];
        if (!handle) throw new Error(`nft did not report a rule handle: ${stdout}`);
        added.push(Number(handle));
      }
      handles.set(port, added);
    },
    async restore(port: number) {
      for (const handle of handles.get(port) ?? []) await nft('delete', 'rule', 'inet', table, 'out', 'handle', String(handle));
      handles.delete(port);
    },
    async close() {
      if (ready) await nft('delete', 'table', 'inet', table).catch(() => {});
    },
  };
}
