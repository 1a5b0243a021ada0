import { sql } from 'drizzle-orm';
import type { Database, Db } from '../../platform/db.js';
import type { InternalClient } from '../../platform/internal-rpc.js';
import type { Logger } from '../../platform/logger.js';
import { claimDueReservations, confirmReservations } from './db/queries.js';
import type { CatalogTables } from './db/tables.js';
import { restockReservation } from './reservations.js';

/**
 * A RELEASED reservation (a tombstone) is kept this long after its release, then deleted with its
 * lines. It only has to outlive any reserve of its id that could still arrive: placeOrder's
 * transaction, the only sender, ends within 6 × INTERNAL_CALL_TIMEOUT_MS, and a client's retry
 * with the same idempotency key comes within the 48 h the key is kept. HELD and CONFIRMED
 * reservations are never deleted (a cancellation returns a confirmed one's units).
 */
export const TOMBSTONE_RETENTION_MS = 7 * 24 * 3_600_000;
const PRUNE_EVERY_MS = 3_600_000;
const PRUNE_BATCH = 5_000;

/** Deletes tombstones released more than retentionMs ago, in batches; how many. */
export async function pruneReservationTombstones(db: Db<Record<string, unknown>>, retentionMs: number): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await db.execute(sql`with gone as (
        delete from reservations where reservation_id = any(array(
          select reservation_id from reservations
          where status = 'RELEASED' and released_at < now() - make_interval(secs => ${retentionMs / 1000}) limit ${PRUNE_BATCH}))
        returning reservation_id),
      lines as (delete from stock_reservations where reservation_id in (select reservation_id from gone))
      select count(*)::int as n from gone`);
    const n = (deleted[0] as { n?: number } | undefined)?.n ?? 0;
    total += n;
    if (n < PRUNE_BATCH) return total;
  }
}

/** Reservations asked about per call to orders (its route takes at most 100). */
const BATCH = 100;
/** Batches per tick at most, so one tick never runs unbounded. */
const MAX_BATCHES_PER_TICK = 10;

export interface ReservationReaper {
  /** One pass: every due reservation is asked about and confirmed or released. Returns how many were released. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Heals reservations whose order never told catalog it committed (orders crashed, its release was
 * lost, the reserve committed after orders gave up). A HELD reservation due for its check (created
 * more than RESERVATION_TTL_SECONDS ago) is claimed with a lease (SKIP LOCKED, so several catalog
 * instances share the work), and orders, the authority, says whether an order holds it: then it is
 * confirmed, else released. Orders unreachable: nothing is released, the lease runs out and the
 * check is repeated (a reservation is never released on a guess).
 */
export function createReservationReaper(opts: {
  database: Database<CatalogTables>;
  orders: InternalClient;
  ttlSeconds: number;
  log: Logger;
  /** After releases were committed (their StockChanged events wait in the outbox). */
  afterRelease?: () => void;
}): ReservationReaper {
  const { database, orders, log } = opts;
  const intervalMs = Math.min(10_000, Math.max(500, (opts.ttlSeconds * 1000) / 4));
  // Long enough for one check to finish, short enough that a crashed checker delays little.
  const leaseSeconds = Math.min(30, Math.max(5, opts.ttlSeconds));

  async function checkBatch(): Promise<{ claimed: number; released: number }> {
    const ids = await claimDueReservations(database.background, BATCH, leaseSeconds);
    if (ids.length === 0) return { claimed: 0, released: 0 };
    const answer = await orders.call<{ orders: { orderId: string; holds: boolean }[] }>('/order-holds', { orderIds: ids });
    const held = answer.orders.filter((o) => o.holds).map((o) => o.orderId);
    const orphaned = answer.orders.filter((o) => !o.holds).map((o) => o.orderId);
    await confirmReservations(database.background, held);
    let released = 0;
    for (const id of orphaned) {
      released += (await database.background.transaction((tx) => restockReservation(tx, id, { onlyIfHeld: true }))) > 0 ? 1 : 0;
    }
    if (orphaned.length) log.info({ released: orphaned.length, confirmed: held.length }, 'released reservations no order holds');
    return { claimed: ids.length, released };
  }

  async function runOnce(): Promise<number> {
    let released = 0;
    for (let i = 0; i < MAX_BATCHES_PER_TICK; i += 1) {
      const batch = await checkBatch();
      released += batch.released;
      if (batch.claimed < BATCH) break;
    }
    if (released > 0) opts.afterRelease?.();
    if (Date.now() - lastPrune >= PRUNE_EVERY_MS) {
      lastPrune = Date.now();
      await pruneReservationTombstones(database.background, TOMBSTONE_RETENTION_MS);
    }
    return released;
  }
  let lastPrune = 0;

  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    running = runOnce()
      .catch((err: unknown) => log.warn({ err: { message: (err as Error).message } }, 'reservation check failed; retrying after the lease'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs).unref();
      });
  };
  timer = setTimeout(tick, intervalMs).unref();

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
