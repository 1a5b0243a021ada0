import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { STATEMENT_STATS_FLAGS, startReplicatedPostgres } from '../../scripts/embedded-replica.js';
import type { ReplicatedPostgres } from '../../scripts/embedded-replica.js';
import { freePort } from '../../scripts/free-port.js';
import { eventually } from './stack.js';

/** Helpers for tests on real streaming replication (a primary and a hot standby). */

/**
 * A primary and standby of the calling file's own (about a second: initdb, a copy, two starts),
 * with pg_stat_statements on both. Cheaper than following the run's shared primary, whose standby
 * would replay every other file's WAL too, and a file may pause or stop it freely.
 */
export async function startOwnReplicatedPostgres(): Promise<
  ReplicatedPostgres & { stackOptions: { adminUrl: string; standbyUrl: string } }
> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'supergraph-replica-'));
  const pair = await startReplicatedPostgres({
    dir,
    primaryPort: await freePort(),
    standbyPort: await freePort(),
    persistent: false,
    postgresFlags: STATEMENT_STATS_FLAGS,
  });
  const admin = postgres(pair.primary.adminUrl, { max: 1, onnotice: () => {} });
  await admin`create extension pg_stat_statements`.finally(() => admin.end());
  return { ...pair, stackOptions: { adminUrl: pair.primary.adminUrl, standbyUrl: pair.standbyUrl } };
}

/** The same database on another server (a standby streams every database of its primary). */
export function onServer(databaseUrl: string, serverUrl: string): string {
  const url = new URL(serverUrl);
  url.pathname = new URL(databaseUrl).pathname;
  return url.toString();
}

/** Waits until the standby has replayed everything the primary had written when this was called. */
export async function waitForReplay(primaryUrl: string, standbyUrl: string, timeoutMs = 15_000): Promise<void> {
  const primary = postgres(primaryUrl, { max: 1, onnotice: () => {} });
  const standby = postgres(standbyUrl, { max: 1, onnotice: () => {} });
  try {
    const [row] = await primary`select pg_current_wal_lsn()::text as lsn`;
    const lsn = row!.lsn as string;
    await eventually(
      async () => {
        const [row] = await standby`select pg_last_wal_replay_lsn() >= ${lsn}::pg_lsn as done`;
        return row?.done ? true : undefined;
      },
      { timeoutMs, intervalMs: 20 },
    );
  } finally {
    await Promise.all([primary.end(), standby.end()]);
  }
}

/** Stops replay on the standby (it keeps receiving WAL) and waits until it has really stopped. */
export async function pauseReplay(standby: postgres.Sql): Promise<void> {
  await standby`select pg_wal_replay_pause()`;
  await eventually(async () => {
    const [row] = await standby`select pg_get_wal_replay_pause_state() as state`;
    return row?.state === 'paused' ? true : undefined;
  });
}

export async function resumeReplay(standby: postgres.Sql): Promise<void> {
  await standby`select pg_wal_replay_resume()`;
}

/**
 * Statements the server itself executed for one database, by pg_stat_statements (preloaded on the
 * test servers; the view lives in the `postgres` database, where the extension is created).
 * `pattern` is matched against the normalised statement text with ILIKE. Statements on system
 * functions and catalogs (the driver's type lookup, the replica monitor's polls) are left out.
 */
export async function statementCalls(server: postgres.Sql, database: string, pattern = '%'): Promise<number> {
  const [row] = await server`
    select coalesce(sum(s.calls), 0)::int as calls
      from pg_stat_statements s join pg_database d on d.oid = s.dbid
     where d.datname = ${database} and s.query ilike ${pattern}
       and s.query !~ 'pg_(catalog|is_in_recovery|current_wal|last_wal|stat)'`;
  return row!.calls as number;
}

export const databaseName = (url: string) => new URL(url).pathname.slice(1);

/**
 * Freezes a running server and every process of it (SIGSTOP): connections stay open and nothing
 * answers, like a host that hangs rather than refuses. `thaw` lets it go on where it stopped.
 */
export function freezeServer(dataDir: string): { thaw(): void } {
  const postmaster = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)], { encoding: 'utf8' })
    .split('\n')
    .map(Number)
    .filter(Boolean);
  const pids = [postmaster, ...children];
  for (const pid of pids) process.kill(pid, 'SIGSTOP');
  return { thaw: () => pids.forEach((pid) => process.kill(pid, 'SIGCONT')) };
}
