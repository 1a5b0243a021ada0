import { enqueue } from '../../platform/events/outbox.js';
import type { Tx } from '../../platform/idempotency.js';
import { closeReservation, releaseHeld, releaseReservation, stockChanged } from './db/queries.js';

/**
 * Returns a reservation's units to stock (once) and announces the new stock levels. With
 * `onlyIfHeld` (the reaper) a reservation confirmed meanwhile is left alone. Releasing an id that
 * was never reserved leaves a tombstone, so a reserve still on its way is refused.
 */
export async function restockReservation(tx: Tx, reservationId: string, opts: { onlyIfHeld?: boolean } = {}): Promise<number> {
  const closed = opts.onlyIfHeld ? await releaseHeld(tx, reservationId) : await closeReservation(tx, reservationId);
  if (!closed) return 0;
  const released = await releaseReservation(tx, reservationId);
  await enqueue(tx, ...released.map(({ product }) => stockChanged(product)));
  return released.length;
}
