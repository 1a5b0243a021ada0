import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SUBGRAPHS, ensureDatabase, migrateSubgraph } from '../platform/migrate.js';
import type { Subgraph } from '../platform/migrate.js';
import { startEmbeddedPostgres } from '../scripts/embedded-postgres.js';
import { freePort } from '../scripts/free-port.js';
import { BENCH_SIZE } from './load-data.js';

export type EmbeddedPostgres = Awaited<ReturnType<typeof startEmbeddedPostgres>>;

/** A throwaway embedded Postgres in a fresh temp folder named after `prefix` (embedded-postgres wants the folder itself). */
export async function startBenchPostgres(prefix: string): Promise<{ pg: EmbeddedPostgres; dataDir: string }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const pg = await startEmbeddedPostgres({ dataDir, port: await freePort(), persistent: false });
  return { pg, dataDir };
}

/** Creates and migrates every subgraph's database; their URLs. */
export async function migrateDatabases(pg: EmbeddedPostgres): Promise<Record<Subgraph, string>> {
  const databaseUrls = Object.fromEntries(SUBGRAPHS.map((s) => [s, pg.urlFor(s)])) as Record<Subgraph, string>;
  for (const s of SUBGRAPHS) {
    await ensureDatabase(pg.adminUrl, s);
    await migrateSubgraph(s, databaseUrls[s]);
  }
  return databaseUrls;
}

/** A free port for every service. */
export async function freeServicePorts(): Promise<Record<'gateway' | Subgraph, number>> {
  return {
    gateway: await freePort(),
    users: await freePort(),
    catalog: await freePort(),
    orders: await freePort(),
    billing: await freePort(),
  };
}

/** The benchmark data set scaled by `scale` (the categories stay: every page keeps its size). */
export const scaledSize = (scale: number) =>
  Object.fromEntries(Object.entries(BENCH_SIZE).map(([k, v]) => [k, k === 'categories' ? v : Math.round(v * scale)])) as typeof BENCH_SIZE;
