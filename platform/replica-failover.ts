import type postgres from 'postgres';
import type { ReplicaMonitor } from './replica-monitor.js';
import { interceptStatements } from './sql-intercept.js';
import type { SendStatement } from './sql-intercept.js';

/**
 * A replica's postgres.js client that hands a read to the primary when the replica cannot answer
 * it, so a replica going away fails no request: the replica leaves the rotation at once and the
 * statement runs again on the primary (reads only, so running one twice is harmless). That covers
 * a connection refused or cut (the usual case: the reply is an error), and a replica that hangs
 * (the monitor's poll times out and marks it down; reads waiting on it move on then).
 *
 * It wraps the driver rather than Drizzle (platform/sql-intercept.ts), so it covers every query
 * builder, prepared statement, relational query and `execute` without touching them.
 */

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01', // admin_shutdown: the server is stopping
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or shutting down
  '3D000', // database does not exist (yet): a new database not replayed there yet
  '53300', // too_many_connections
]);

/** The replica cannot serve anything right now: take it out of rotation, read from the primary. */
export function isReplicaUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08'));
}

/** Replay on the standby cancelled this one statement (rows it needed were vacuumed away): the primary has them. */
export function isRecoveryConflict(err: unknown): boolean {
  return /conflict with recovery/i.test((err as Error | null | undefined)?.message ?? '');
}

export function withPrimaryFallback(replica: postgres.Sql, primary: postgres.Sql, monitor: ReplicaMonitor, index: number): postgres.Sql {
  const run = (send: SendStatement): Promise<unknown> => {
    // Marked down by another request a moment ago: do not wait for this one to find out.
    if (!monitor.isUp(index)) return send(primary);
    return new Promise<unknown>((resolve, reject) => {
      let settled = false;
      const finish = () => {
        settled = true;
        stopListening();
      };
      const toPrimary = () => {
        if (settled) return;
        finish();
        send(primary).then(resolve, reject);
      };
      const stopListening = monitor.onDown(index, toPrimary);
      send(replica).then(
        (result) => {
          if (settled) return;
          finish();
          resolve(result);
        },
        (err: unknown) => {
          if (settled) return;
          if (isReplicaUnavailable(err)) {
            monitor.markDown(index, err); // also runs toPrimary, as a listener
            toPrimary();
          } else if (isRecoveryConflict(err)) {
            toPrimary();
          } else {
            finish();
            reject(err);
          }
        },
      );
    });
  };
  // Reads only: a replica client runs no transactions.
  return interceptStatements(replica, (_text, send) => run(send), false);
}
