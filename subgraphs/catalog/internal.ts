import { z } from 'zod';
import type { Database } from '../../platform/db.js';
import { ErrorCode, appError, invalidState, notFound } from '../../platform/errors.js';
import { defineInternalRoute } from '../../platform/internal-rpc.js';
import type { Tx } from '../../platform/idempotency.js';
import { enqueue } from '../../platform/events/outbox.js';
import type { EventHandlers } from '../../platform/events/consumer.js';
import {
  closeReservation,
  confirmReservations,
  insertReservation,
  openReservation,
  productsByIds,
  releaseHeld,
  releaseReservation,
  reservationLines,
  reservationStatus,
  stockChanged,
  takeStock,
} from './db/queries.js';
import type { ReservedLine } from './db/queries.js';
import type { CatalogSchema } from './db/schema.js';

/**
 * Returns a reservation's units to stock (once) and announces the new stock levels. With
 * `onlyIfHeld` (the reaper) a reservation confirmed meanwhile is left alone. Releasing an id that
 * was never reserved leaves a tombstone, so a reserve still on its way is refused.
 */
export async function releaseStock(tx: Tx, reservationId: string, opts: { onlyIfHeld?: boolean } = {}): Promise<number> {
  const closed = opts.onlyIfHeld ? await releaseHeld(tx, reservationId) : await closeReservation(tx, reservationId);
  if (!closed) return 0;
  const released = await releaseReservation(tx, reservationId);
  await enqueue(tx, ...released.map(({ product }) => stockChanged(product)));
  return released.length;
}

/**
 * What catalog does with the orders stream (both idempotent per reservation, in either order):
 * a placed order confirms its reservation, so the reaper never asks about it; a cancelled one
 * puts its units back (and a later OrderPlaced finds it released and leaves it so).
 */
export const orderEventHandlers: EventHandlers = {
  OrderPlaced: async (tx, { orderId }) => {
    await confirmReservations(tx, [orderId]);
  },
  OrderCancelled: async (tx, { orderId }) => {
    await releaseStock(tx, orderId);
  },
};

const reserveInput = z.object({
  reservationId: z.uuid(),
  lines: z
    .array(z.object({ productId: z.string(), quantity: z.number().int().min(1).max(100) }))
    .min(1)
    .max(50),
});

/** A retried reserve gets the first one's lines; one that arrives after its release is refused. */
async function replayReservation(tx: Tx, reservationId: string): Promise<ReservedLine[]> {
  if ((await reservationStatus(tx, reservationId)) === 'RELEASED') throw invalidState('This reservation was released.');
  return (await reservationLines(tx, reservationId)).map(({ releasedAt: _r, ...line }) => line);
}

async function stockRefusal(tx: Tx, productId: string) {
  const [exists] = await productsByIds(tx as never, [productId]);
  if (!exists) return notFound(`Product ${productId} does not exist.`, { productId });
  return appError(ErrorCode.INSUFFICIENT_STOCK, `Only ${exists.stock} units of ${exists.name} are in stock.`, { productId, available: exists.stock });
}

/** Commands the orders service sends when an order is placed or cancelled. */
export function createInternalRoutes(database: Database<CatalogSchema>, ttlSeconds: number) {
  return [
    defineInternalRoute({
      path: '/reserve-stock',
      callers: ['orders'],
      input: reserveInput,
      /** Takes stock for every line at current prices, all or nothing; replays an existing reservation. */
      handler: ({ reservationId, lines }) =>
        database.primary.transaction(async (tx): Promise<ReservedLine[]> => {
          // The reservation's row comes first: a release racing this reserve queues behind it.
          if (!(await openReservation(tx as Tx, reservationId, ttlSeconds))) return replayReservation(tx as Tx, reservationId);
          // A fixed lock order keeps two orders for the same products from deadlocking each other.
          const sorted = [...lines].sort((a, b) => a.productId.localeCompare(b.productId));
          const reserved: ReservedLine[] = [];
          for (const line of sorted) {
            const product = z.uuid().safeParse(line.productId).success ? await takeStock(tx as Tx, line.productId, line.quantity) : undefined;
            if (!product) throw await stockRefusal(tx as Tx, line.productId);
            reserved.push({ productId: product.id, quantity: line.quantity, unitPriceCents: product.priceCents, currency: product.currency });
            await enqueue(tx as Tx, stockChanged(product));
          }
          await insertReservation(tx as Tx, reservationId, reserved);
          const byId = new Map(reserved.map((l) => [l.productId, l]));
          return lines.map((l) => byId.get(l.productId)!);
        }),
    }),
    defineInternalRoute({
      path: '/release-stock',
      callers: ['orders'],
      input: z.object({ reservationId: z.uuid() }),
      handler: async ({ reservationId }) => {
        const released = await database.primary.transaction((tx) => releaseStock(tx as Tx, reservationId));
        return { releasedLines: released };
      },
    }),
  ];
}
