import postgres from 'postgres';
import { generateLocalKeys } from '../platform/local-env.js';
import type { LocalKeys, LocalTopology } from '../platform/local-env.js';
import { SUBGRAPHS } from '../platform/migrate.js';
import type { Subgraph } from '../platform/migrate.js';
import { startLocalSupergraph } from '../scripts/local-supergraph.js';
import type { LocalSupergraph } from '../scripts/local-supergraph.js';
import { freeServicePorts, migrateDatabases, startBenchPostgres } from './databases.js';

export interface BenchSupergraph {
  keys: LocalKeys;
  supergraph: LocalSupergraph;
  /** A small pool per subgraph database, for seeding and reading state straight from the tables. */
  sql: Record<Subgraph, postgres.Sql>;
  /** Ends the pools, stops the supergraph, then Postgres. */
  close: () => Promise<void>;
}

/**
 * The whole supergraph in this process (scripts/local-supergraph.ts) over a fresh, migrated
 * embedded Postgres, in production mode and quiet: the set-up of the single-process benches.
 */
export async function startBenchSupergraph(opts: {
  pgPrefix: string;
  eventNamespace: string;
  redisUrl?: string;
  extra?: LocalTopology['extra'];
}): Promise<BenchSupergraph> {
  const { pg } = await startBenchPostgres(opts.pgPrefix);
  try {
    const databaseUrls = await migrateDatabases(pg);
    const keys = await generateLocalKeys();
    const supergraph = await startLocalSupergraph({
      keys,
      databaseUrls,
      ports: await freeServicePorts(),
      logLevel: 'error',
      nodeEnv: 'production',
      eventNamespace: opts.eventNamespace,
      redisUrl: opts.redisUrl,
      extra: opts.extra,
    });
    const sql = Object.fromEntries(SUBGRAPHS.map((s) => [s, postgres(databaseUrls[s], { max: 2, onnotice: () => {} })])) as Record<
      Subgraph,
      postgres.Sql
    >;
    const close = async () => {
      await Promise.all(Object.values(sql).map((s) => s.end()));
      await supergraph.close();
      await pg.stop();
    };
    return { keys, supergraph, sql, close };
  } catch (err) {
    await pg.stop();
    throw err;
  }
}
