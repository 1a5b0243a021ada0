import type postgres from 'postgres';
import type { ReplicaMonitor } from './replica-monitor.js';

/**
 * A replica's postgres.js client that hands a read to the primary when the replica cannot answer
 * it, so a replica going away fails no request: the replica leaves the rotation at once and the
 * statement runs again on the primary (reads only, so running one twice is harmless). That covers
 * a connection refused or cut (the usual case: the reply is an error), and a replica that hangs
 * (the monitor's poll times out and marks it down; reads waiting on it move on then).
 *
 * It wraps the driver rather than Drizzle: Drizzle's postgres-js session sends every statement as
 * `client.unsafe(text, params, options)` (awaited, or `.values()` for row arrays), so a stand-in
 * for `unsafe` covers every query builder, relational query and `execute` without touching them.
 */

const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  '57P01', // admin_shutdown: the server is stopping
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or shutting down
  '3D000', // database does not exist (yet): a new database not replayed there yet
  '53300', // too_many_connections
]);

/** The replica cannot serve anything right now: take it out of rotation, read from the primary. */
export function isReplicaUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08'));
}

/** Replay on the standby cancelled this one statement (rows it needed were vacuumed away): the primary has them. */
export function isRecoveryConflict(err: unknown): boolean {
  return /conflict with recovery/i.test((err as Error)?.message ?? '');
}

export function withPrimaryFallback(replica: postgres.Sql, primary: postgres.Sql, monitor: ReplicaMonitor, index: number): postgres.Sql {
  const unsafe = (query: string, params?: unknown[], options?: unknown) => {
    const send = (client: postgres.Sql, values: boolean): Promise<unknown> => {
      const pending = (client.unsafe)(query, params as never, options as never);
      return values ? pending.values() : pending;
    };
    const run = (values: boolean) => {
      // Marked down by another request a moment ago: do not wait for this one to find out.
      if (!monitor.isUp(index)) return send(primary, values);
      return new Promise<unknown>((resolve, reject) => {
        let settled = false;
        const toPrimary = () => {
          if (settled) return;
          settled = true;
          stopListening();
          send(primary, values).then(resolve, reject);
        };
        const stopListening = monitor.onDown(index, toPrimary);
        send(replica, values).then(
          (result) => {
            if (settled) return;
            settled = true;
            stopListening();
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
              settled = true;
              stopListening();
              reject(err);
            }
          },
        );
      });
    };
    // Lazy like postgres.js's own query: nothing is sent until it is awaited or `.values()` is called.
    let started: Promise<unknown> | undefined;
    return {
      then: (onFulfilled?: (v: unknown) => unknown, onRejected?: (e: unknown) => unknown) =>
        (started ??= run(false)).then(onFulfilled, onRejected),
      values: () => (started ??= run(true)),
    };
  };
  return new Proxy(replica, {
    get: (target, prop, receiver) => (prop === 'unsafe' ? unsafe : Reflect.get(target, prop, receiver)),
  });
}
