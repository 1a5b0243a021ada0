import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { appendFile, chmod, chown, cp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import postgres from 'postgres';
import path from 'node:path';
import { letPostgresUserThrough, startEmbeddedPostgres } from './embedded-postgres.js';
import type { EmbeddedPostgresHandle } from './embedded-postgres.js';

/**
 * A real primary and a streaming hot standby from the embedded-postgres binaries. They ship
 * initdb, pg_ctl and postgres only (no pg_basebackup), so the standby is a *cold copy*: the
 * primary's data directory is copied while that server is stopped (right after initdb, or before
 * `npm start` starts it), then marked with `standby.signal` and `primary_conninfo`. Both servers
 * share the system identifier and the checkpoint the copy starts from, so the standby streams
 * everything the primary writes after it (CREATE DATABASE included).
 */

const USER = 'postgres';
const PASSWORD = 'postgres';

/** Settings both servers need: a replication source, room for WAL a stopped standby still needs. */
export const REPLICATION_FLAGS = [
  '-c',
  'wal_level=replica',
  '-c',
  'max_wal_senders=10',
  // A standby stopped for a while catches up from the primary's pg_wal (no slot: a forgotten slot
  // would keep WAL forever on a developer's disk).
  '-c',
  'wal_keep_size=256MB',
];

/** pg_stat_statements on both servers: tests count what each server really executed. */
export const STATEMENT_STATS_FLAGS = ['-c', 'shared_preload_libraries=pg_stat_statements'];

export interface StandbyHandle {
  url: string;
  urlFor(database: string): string;
  port: number;
  dataDir: string;
  /** Fast shutdown (clients are disconnected), as when a replica host goes away. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data: it resumes streaming where it stopped. */
  start(): Promise<void>;
}

export interface ReplicatedPostgres {
  primary: EmbeddedPostgresHandle;
  /** Undefined while lazy (not started by this process). */
  standby: StandbyHandle | undefined;
  standbySpec: StandbySpec;
  standbyUrl: string;
  stop(): Promise<void>;
}

const SLOT = 'standby';

async function binaries(): Promise<{ postgres: string }> {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  return (await import(`@embedded-postgres/${os}-${process.arch}`)) as { postgres: string };
}

/** As root, embedded-postgres runs the server as the `postgres` system user; the copy must be theirs. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, USER], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await chown(dir, uid, gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(full, uid, gid);
    else await chown(full, uid, gid);
  }
}

/** Copies a stopped cluster into a fresh standby data directory that streams from `primaryPort`. */
export async function cloneStoppedPrimary(primaryDir: string, standbyDir: string, primaryPort: number, slot?: string): Promise<void> {
  await rm(standbyDir, { recursive: true, force: true });
  await cp(primaryDir, standbyDir, {
    recursive: true,
    filter: (src) => !['postmaster.pid', 'postmaster.opts'].includes(path.basename(src)),
  });
  await writeFile(path.join(standbyDir, 'standby.signal'), '');
  await appendFile(
    path.join(standbyDir, 'postgresql.auto.conf'),
    [
      `primary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=${USER} password=${PASSWORD} application_name=standby'`,
      'hot_standby = on',
      ...(slot ? [`primary_slot_name = '${slot}'`] : []),
      // Replay conflicts would cancel long reads on the standby; the primary keeps their rows instead.
      'hot_standby_feedback = on',
      '',
    ].join('\n'),
  );
  const owner = serverUser();
  if (owner) await chownTree(standbyDir, owner.uid, owner.gid);
  // Postgres refuses a data directory others can read.
  await chmod(standbyDir, 0o700);
}

/** What it takes to run a standby, from any process (the test workers start the run's one on first use). */
export interface StandbySpec {
  dataDir: string;
  port: number;
  postgresFlags: string[];
}

const standbyArgs = (spec: StandbySpec) => [
  '-D',
  spec.dataDir,
  '-p',
  String(spec.port),
  '-c',
  'listen_addresses=127.0.0.1',
  '-c',
  'max_connections=400',
  ...spec.postgresFlags,
];
const urlFor = (port: number, database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;

async function accepting(port: number): Promise<boolean> {
  const sql = postgres(urlFor(port, 'postgres'), { max: 1, connect_timeout: 2, onnotice: () => {} });
  try {
    await sql`select 1`;
    return true;
  } catch {
    return false;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Runs `postgres -D <dir>` on a standby data directory (as the postgres user when we are root), owned by this process. */
export async function startStandby(spec: StandbySpec, log?: (msg: string) => void): Promise<StandbyHandle> {
  const { postgres: server } = await binaries();
  await letPostgresUserThrough(path.dirname(path.resolve(spec.dataDir)));
  const owner = serverUser();
  let child: ChildProcess | undefined;
  const killOnExit = () => child?.kill('SIGINT');

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const proc = spawn(server, standbyArgs(spec), {
        ...owner,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, LC_MESSAGES: 'C' },
      });
      child = proc;
      let output = '';
      proc.stderr.on('data', (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        log?.(text);
        if (output.length < 20_000) output += text;
        // A hot standby announces read-only readiness (embedded-postgres waits for a different line).
        if (text.includes('ready to accept read-only connections')) resolve();
      });
      proc.once('exit', (code) => {
        if (child === proc) child = undefined;
        process.off('exit', killOnExit);
        reject(new Error(`standby exited (${code}) before it was ready:\n${output.slice(-4000)}`));
      });
      process.once('exit', killOnExit);
    });

  const stop = async () => {
    const proc = child;
    if (!proc) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGINT'); // fast shutdown
    await exited;
  };

  await start();
  return { url: urlFor(spec.port, 'postgres'), urlFor: (db) => urlFor(spec.port, db), port: spec.port, dataDir: spec.dataDir, stop, start };
}

/**
 * Starts the standby unless it already runs, from whichever process asks first; it outlives that
 * process (detached, log in `standby.log` next to its data) until stopStandbyByPid. Two processes
 * racing are safe: Postgres lets one postmaster lock a data directory, the other simply waits.
 */
export async function ensureStandbyRunning(spec: StandbySpec, timeoutMs = 60_000): Promise<void> {
  if (await accepting(spec.port)) return;
  const { postgres: server } = await binaries();
  await letPostgresUserThrough(path.dirname(path.resolve(spec.dataDir)));
  const logFile = path.join(path.dirname(spec.dataDir), 'standby.log');
  const out = openSync(logFile, 'a');
  const proc = spawn(server, standbyArgs(spec), {
    ...serverUser(),
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, LC_MESSAGES: 'C' },
  });
  proc.unref();
  closeSync(out);
  const deadline = Date.now() + timeoutMs;
  while (!(await accepting(spec.port))) {
    if (Date.now() > deadline) throw new Error(`standby not ready within ${timeoutMs} ms; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops a standby started by any process, through the pid its postmaster recorded. */
export async function stopStandbyByPid(dataDir: string): Promise<void> {
  const pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
  if (!pid) return;
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (alive()) process.kill(pid, 'SIGINT');
  while (alive()) await new Promise((r) => setTimeout(r, 20));
}

/**
 * A primary and its standby under `dir` (`primary/`, `standby/`). The standby is re-cloned on every
 * start while the primary is still cold, so a persistent primary (`npm start`) gets a fresh one.
 * `standby: 'lazy'` only prepares it (see ensureStandbyRunning); a replication slot then keeps
 * every WAL segment it will need, however late it starts (temporary pairs only: on a persistent
 * primary, a forgotten slot would keep WAL forever).
 */
export async function startReplicatedPostgres(opts: {
  /** `primary/` and `standby/` go here unless placed explicitly; removed on stop unless persistent. */
  dir: string;
  primaryDir?: string;
  standbyDir?: string;
  primaryPort: number;
  standbyPort: number;
  persistent: boolean;
  standby?: 'start' | 'lazy';
  /** Extra settings for both servers (the standby needs e.g. the same shared_preload_libraries). */
  postgresFlags?: string[];
  log?: (msg: string) => void;
}): Promise<ReplicatedPostgres> {
  const primaryDir = opts.primaryDir ?? path.join(opts.dir, 'primary');
  const spec: StandbySpec = {
    dataDir: opts.standbyDir ?? path.join(opts.dir, 'standby'),
    port: opts.standbyPort,
    postgresFlags: [...REPLICATION_FLAGS, ...(opts.postgresFlags ?? [])],
  };
  const slot = opts.persistent ? undefined : SLOT;
  const primary = await startEmbeddedPostgres({
    dataDir: primaryDir,
    port: opts.primaryPort,
    persistent: opts.persistent,
    postgresFlags: spec.postgresFlags,
    ...(opts.log ? { log: opts.log } : {}),
    beforeStart: () => cloneStoppedPrimary(primaryDir, spec.dataDir, opts.primaryPort, slot),
  });
  let standby: StandbyHandle | undefined;
  try {
    if (slot) {
      const sql = postgres(primary.adminUrl, { max: 1, onnotice: () => {} });
      await sql`select pg_create_physical_replication_slot(${slot}, true)`.finally(() => sql.end());
    }
    if (opts.standby !== 'lazy') standby = await startStandby(spec, opts.log);
  } catch (err) {
    await primary.stop();
    throw err;
  }
  return {
    primary,
    standby,
    standbySpec: spec,
    standbyUrl: urlFor(spec.port, 'postgres'),
    async stop() {
      await (standby ? standby.stop() : stopStandbyByPid(spec.dataDir));
      await primary.stop();
      if (!opts.persistent) await rm(opts.dir, { recursive: true, force: true });
    },
  };
}
