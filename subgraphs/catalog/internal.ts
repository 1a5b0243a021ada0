import { z } from 'zod';
import type { Database } from '../../platform/db.js';
import { ErrorCode, appError, invalidState, notFound } from '../../platform/errors.js';
import { defineInternalRoute } from '../../platform/internal-rpc.js';
import type { Tx } from '../../platform/idempotency.js';
import { enqueue } from '../../platform/events/outbox.js';
import {
  insertReservation,
  openReservation,
  productsByIds,
  reservationLines,
  reservationStatus,
  stockChanged,
  takeStock,
} from './db/queries.js';
import type { ReservedLine } from './db/queries.js';
import type { CatalogTables } from './db/tables.js';
import type { CatalogDeps } from './context.js';
import { restockReservation } from './reservations.js';

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
  const [exists] = await productsByIds(tx, [productId]);
  if (!exists) return notFound(`Product ${productId} does not exist.`, { productId });
  return appError(ErrorCode.INSUFFICIENT_STOCK, `Only ${exists.stock} units of ${exists.name} are in stock.`, {
    productId,
    available: exists.stock,
  });
}

/** What catalog serves to other services: the commands orders sends when an order is placed or fails. */
export function createInternalRoutes(database: Database<CatalogTables>, deps: CatalogDeps) {
  return [
    defineInternalRoute({
      path: '/reserve-stock',
      callers: ['orders'],
      input: reserveInput,
      /** Takes stock for every line at current prices, all or nothing; replays an existing reservation. */
      handler: ({ reservationId, lines }) =>
        database.primary.transaction(async (tx): Promise<ReservedLine[]> => {
          // The reservation's row comes first: a release racing this reserve queues behind it.
          if (!(await openReservation(tx, reservationId, deps.reservationTtlSeconds))) return replayReservation(tx, reservationId);
          // A fixed lock order keeps two orders for the same products from deadlocking each other.
          const sorted = [...lines].sort((a, b) => a.productId.localeCompare(b.productId));
          const reserved: ReservedLine[] = [];
          for (const line of sorted) {
            const product = z.uuid().safeParse(line.productId).success ? await takeStock(tx, line.productId, line.quantity) : undefined;
            if (!product) throw await stockRefusal(tx, line.productId);
            reserved.push({
              productId: product.id,
              quantity: line.quantity,
              unitPriceCents: product.priceCents,
              currency: product.currency,
            });
            await enqueue(tx, stockChanged(product));
          }
          await insertReservation(tx, reservationId, reserved);
          const byId = new Map(reserved.map((l) => [l.productId, l]));
          return lines.map((l) => byId.get(l.productId)!);
        }),
    }),
    defineInternalRoute({
      path: '/release-stock',
      callers: ['orders'],
      input: z.object({ reservationId: z.uuid() }),
      handler: async ({ reservationId }) => {
        const released = await database.primary.transaction((tx) => restockReservation(tx, reservationId));
        return { releasedLines: released };
      },
    }),
  ];
}
