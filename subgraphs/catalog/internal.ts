import { z } from 'zod';
import type { Database } from '../../platform/db.js';
import { ErrorCode, appError, invalidState, notFound } from '../../platform/errors.js';
import { defineInternalRoute } from '../../platform/internal-rpc.js';
import type { Tx } from '../../platform/idempotency.js';
import { enqueue } from '../../platform/events/outbox.js';
import { insertReservation, productsByIds, releaseReservation, reservationLines, stockChanged, takeStock } from './db/queries.js';
import type { ReservedLine } from './db/queries.js';
import type { CatalogSchema } from './db/schema.js';

/** Returns a reservation's units to stock (once) and announces the new stock levels. */
export async function releaseStock(tx: Tx, reservationId: string): Promise<number> {
  const released = await releaseReservation(tx, reservationId);
  await enqueue(tx, ...released.map(({ product }) => stockChanged(product)));
  return released.length;
}

const reserveInput = z.object({
  reservationId: z.uuid(),
  lines: z
    .array(z.object({ productId: z.string(), quantity: z.number().int().min(1).max(100) }))
    .min(1)
    .max(50),
});

/** Commands the orders service sends when an order is placed or cancelled. */
export function createInternalRoutes(database: Database<CatalogSchema>) {
  return [
    defineInternalRoute({
      path: '/reserve-stock',
      callers: ['orders'],
      input: reserveInput,
      /** Takes stock for every line at current prices, all or nothing; replays an existing reservation. */
      handler: ({ reservationId, lines }) =>
        database.primary.transaction(async (tx): Promise<ReservedLine[]> => {
          const existing = await reservationLines(tx as Tx, reservationId);
          if (existing.length > 0) {
            if (existing.some((l) => l.releasedAt)) throw invalidState('This reservation was released.');
            return existing.map(({ releasedAt: _r, ...line }) => line);
          }
          // A fixed lock order keeps two orders for the same products from deadlocking each other.
          const sorted = [...lines].sort((a, b) => a.productId.localeCompare(b.productId));
          const reserved: ReservedLine[] = [];
          for (const line of sorted) {
            const product = z.uuid().safeParse(line.productId).success ? await takeStock(tx as Tx, line.productId, line.quantity) : undefined;
            if (!product) {
              const [exists] = await productsByIds(tx as never, [line.productId]);
              if (!exists) throw notFound(`Product ${line.productId} does not exist.`, { productId: line.productId });
              throw appError(ErrorCode.INSUFFICIENT_STOCK, `Only ${exists.stock} units of ${exists.name} are in stock.`, {
                productId: line.productId,
                available: exists.stock,
              });
            }
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
