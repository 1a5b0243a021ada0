import path from 'node:path';
import postgres from 'postgres';
import { z } from 'zod';
import { parseConfig } from '../platform/config.js';
import { SUBGRAPHS, ensureDatabase, migrateSubgraph } from '../platform/migrate.js';
import type { Subgraph } from '../platform/migrate.js';
import { ROOT } from './compose-supergraph.js';

/**
 * Where the scripts (start, migrate, seed) find the four databases:
 * - <NAME>_DATABASE_URL for each subgraph (production: one-shot migration job), or
 * - POSTGRES_URL, a server on which the four databases are created if missing, or
 * - neither: the embedded Postgres in .data/postgres (the default for `npm start`).
 */
export const scriptEnvSchema = z
  .object({
    POSTGRES_URL: z.url().optional(),
    USERS_DATABASE_URL: z.url().optional(),
    CATALOG_DATABASE_URL: z.url().optional(),
    ORDERS_DATABASE_URL: z.url().optional(),
    BILLING_DATABASE_URL: z.url().optional(),
    EMBEDDED_POSTGRES_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
    /** `npm start` with a streaming standby of the embedded server, read by every subgraph as its replica. */
    EMBEDDED_REPLICA: z.enum(['true', 'false']).default('false'),
    EMBEDDED_REPLICA_PORT: z.coerce.number().int().min(1).max(65535).default(54330),
    DATA_DIR: z.string().default(path.join(ROOT, '.data')),
    NODE_ENV: z.string().optional(),
  })
  // Production (the migration Job, compose's migrate) never falls back to an embedded server: a URL
  // its manifest forgot is a configuration error naming it, not a Postgres started inside the pod.
  .superRefine((env, ctx) => {
    if (env.NODE_ENV !== 'production' || env.POSTGRES_URL) return;
    for (const name of ['USERS', 'CATALOG', 'ORDERS', 'BILLING'] as const) {
      const key = `${name}_DATABASE_URL` as const;
      if (!env[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'required with NODE_ENV=production (or POSTGRES_URL)' });
    }
  });

export interface Databases {
  urls: Record<Subgraph, string>;
  /** With EMBEDDED_REPLICA=true: each database on the embedded standby. */
  replicaUrls?: Record<Subgraph, string[]>;
  embedded: boolean;
  stop(): Promise<void>;
}

const withDatabase = (serverUrl: string, database: string) => {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
};

/**
 * Whether the embedded server of this DATA_DIR already runs (an `npm start` in another terminal):
 * `npm run migrate` / `seed` then use it instead of failing on its lock file.
 */
async function runningServer(url: string): Promise<boolean> {
  const probe = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await probe`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await probe.end({ timeout: 1 });
  }
}

const embeddedUrl = (port: number) => `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;

export async function openDatabases(log: (msg: string) => void = console.log, opts: { reuseRunning?: boolean } = {}): Promise<Databases> {
  const env = parseConfig(scriptEnvSchema);
  const explicit = {
    users: env.USERS_DATABASE_URL,
    catalog: env.CATALOG_DATABASE_URL,
    orders: env.ORDERS_DATABASE_URL,
    billing: env.BILLING_DATABASE_URL,
  };
  if (SUBGRAPHS.every((s) => explicit[s])) {
    return { urls: explicit as Record<Subgraph, string>, embedded: false, stop: async () => {} };
  }
  let serverUrl = env.POSTGRES_URL;
  let standbyUrl: string | undefined;
  let stop = async () => {};
  if (!serverUrl && env.EMBEDDED_REPLICA === 'true') {
    log(`starting embedded Postgres with a streaming standby (ports ${env.EMBEDDED_POSTGRES_PORT}, ${env.EMBEDDED_REPLICA_PORT})`);
    const { startReplicatedPostgres } = await import('./embedded-replica.js');
    const pg = await startReplicatedPostgres({
      dir: env.DATA_DIR,
      primaryDir: path.join(env.DATA_DIR, 'postgres'),
      // A fresh copy at every start (the primary is still stopped then): nothing to keep in sync.
      standbyDir: path.join(env.DATA_DIR, 'postgres-standby'),
      primaryPort: env.EMBEDDED_POSTGRES_PORT,
      standbyPort: env.EMBEDDED_REPLICA_PORT,
      persistent: true,
    });
    serverUrl = pg.primary.adminUrl;
    standbyUrl = pg.standbyUrl;
    stop = () => pg.stop();
  } else if (!serverUrl && opts.reuseRunning && (await runningServer(embeddedUrl(env.EMBEDDED_POSTGRES_PORT)))) {
    log(`using the embedded Postgres already running on port ${env.EMBEDDED_POSTGRES_PORT} (npm start)`);
    serverUrl = embeddedUrl(env.EMBEDDED_POSTGRES_PORT);
  } else if (!serverUrl) {
    log(`starting embedded Postgres (data in ${path.join(env.DATA_DIR, 'postgres')}, port ${env.EMBEDDED_POSTGRES_PORT})`);
    // Loaded only here: embedded-postgres is a development dependency, absent from production images.
    const { startEmbeddedPostgres } = await import('./embedded-postgres.js');
    const pg = await startEmbeddedPostgres({
      dataDir: path.join(env.DATA_DIR, 'postgres'),
      port: env.EMBEDDED_POSTGRES_PORT,
      persistent: true,
    });
    serverUrl = pg.adminUrl;
    stop = () => pg.stop();
  }
  const urls = {} as Record<Subgraph, string>;
  for (const name of SUBGRAPHS) {
    await ensureDatabase(serverUrl, name);
    urls[name] = withDatabase(serverUrl, name);
  }
  const replicaUrls = standbyUrl
    ? (Object.fromEntries(SUBGRAPHS.map((name) => [name, [withDatabase(standbyUrl, name)]])) as Record<Subgraph, string[]>)
    : undefined;
  return { urls, ...(replicaUrls ? { replicaUrls } : {}), embedded: !env.POSTGRES_URL, stop };
}

export async function migrateAll(urls: Record<Subgraph, string>): Promise<void> {
  for (const name of SUBGRAPHS) await migrateSubgraph(name, urls[name]);
}
