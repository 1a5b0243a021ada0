import type { Logger } from './logger.js';

/**
 * postgres.js fetches the array types on each new connection (`fetchArrayTypes`) and does not
 * handle that promise: a server that resets the connection right then (a standby stopping) leaves
 * an unhandled rejection, which would end the process. The connection is gone either way and its
 * queries fail (and fall back to the primary, platform/replica-failover.ts), so this one is logged
 * and nothing else; every other unhandled rejection still ends the process, as by default.
 */
export function isDriverTypeFetchFailure(err: unknown): boolean {
  const { query, code } = (err ?? {}) as { query?: unknown; code?: unknown };
  return typeof query === 'string' && query.includes('from pg_catalog.pg_type a') && typeof code === 'string';
}

let installed = false;

export function guardDriverRejections(log: Logger): void {
  if (installed) return;
  installed = true;
  process.on('unhandledRejection', (err) => {
    if (!isDriverTypeFetchFailure(err)) throw err;
    log.warn({ code: (err as { code: string }).code }, 'database connection lost while fetching its types');
  });
}
