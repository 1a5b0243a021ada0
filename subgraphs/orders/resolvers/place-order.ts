import { randomUUID } from 'node:crypto';
import { GraphQLError } from 'graphql';
import { z } from 'zod';
import { requireUser } from '../../../platform/auth/identity.js';
import { badInput, isPublicError, serviceUnavailable } from '../../../platform/errors.js';
import { ServiceUnavailableError } from '../../../platform/internal-rpc.js';
import { runIdempotent } from '../../../platform/idempotency.js';
import type { Tx } from '../../../platform/idempotency.js';
import { parseInput } from '../../../platform/validation.js';
import { enqueue } from '../../../platform/events/outbox.js';
import { boundTransaction, insertOrder, lockNewOrderId, orderStatusChanged } from '../db/queries.js';
import type { OrdersContext, OrdersServices } from '../context.js';
import { orderNotFound } from './access.js';

export const MAX_LINES = 50;
export const MAX_QUANTITY = 100;
/** Money is a GraphQL Int: a total must fit in 32 bits (and in the integer column). */
const MAX_TOTAL_CENTS = 2_147_483_647;

const placeOrderSchema = z.object({
  items: z
    .array(
      z.object({
        productId: z.string(),
        quantity: z
          .number()
          .int('must be a whole number')
          .min(1, 'must be at least 1')
          .max(MAX_QUANTITY, `must be at most ${MAX_QUANTITY}`),
      }),
    )
    .min(1, 'must hold at least one line')
    .max(MAX_LINES, `must hold at most ${MAX_LINES} lines`),
  idempotencyKey: z.string().min(8, 'must be 8 to 255 characters').max(255, 'must be 8 to 255 characters'),
});

interface Line { productId: string; quantity: number }

/** What catalog's /reserve-stock answers: each line at the product's price as of now. */
interface ReservedLine extends Line {
  unitPriceCents: number;
  currency: string;
}

function assertDistinctProducts(items: Line[]): void {
  const seen = new Set<string>();
  items.forEach(({ productId }, i) => {
    if (seen.has(productId)) {
      throw badInput(`Product ${productId} appears more than once; put all its units on one line.`, {
        field: `input.items.${i}.productId`,
        productId,
      });
    }
    seen.add(productId);
  });
}

/** Order lines and total, computed here from the catalog's prices (never the client's). */
function priceOrder(reserved: ReservedLine[]) {
  const currencies = [...new Set(reserved.map((l) => l.currency))];
  if (currencies.length !== 1) {
    throw badInput(`All products of one order must share a currency; these are priced in ${currencies.sort().join(', ')}.`, {
      field: 'input.items',
    });
  }
  const totalCents = reserved.reduce((sum, l) => sum + l.unitPriceCents * l.quantity, 0);
  if (totalCents > MAX_TOTAL_CENTS) throw badInput('The order total is too large; split it into several orders.', { field: 'input.items' });
  const items = reserved.map((l, position) => ({
    productId: l.productId,
    quantity: l.quantity,
    unitPriceCents: l.unitPriceCents,
    currency: l.currency,
    position,
  }));
  return { items, totalCents, currency: currencies[0]! };
}

/**
 * placeOrder: reserve stock in the catalog (at its current prices), then write the order, all
 * inside one idempotent transaction. The reservation is another service's commit and stays
 * provisional in catalog until this order is known to have committed (OrderPlaced, written in the
 * same transaction through the outbox, or catalog asking /internal/order-holds). If our
 * transaction does not commit, we release at once; if that release is lost too (catalog gone,
 * this process killed), catalog releases the reservation itself after RESERVATION_TTL_SECONDS.
 *
 * The transaction holds the order id's advisory lock from before the reserve until it ends, and is
 * bounded (transaction_timeout), so catalog's "does this order exist?" always gets a final answer.
 */
export function createPlaceOrder(services: OrdersServices) {
  return async function placeOrder(_: unknown, args: { input: unknown }, ctx: OrdersContext) {
    const { userId } = requireUser(ctx.identity);
    const input = parseInput(placeOrderSchema, args.input);
    const lines: Line[] = input.items.map(({ productId, quantity }) => ({ productId, quantity }));
    assertDistinctProducts(lines);

    const attempt: Attempt = {};
    let result: { orderId: string };
    try {
      result = await runIdempotent(
        ctx.db.write,
        { scope: userId, operation: 'placeOrder', key: input.idempotencyKey, input: { items: lines } },
        (tx) => placeInTransaction(tx, services, ctx, { userId, lines }, attempt),
      );
    } catch (err) {
      throw await failedAttempt(services, ctx, attempt, err);
    }

    const order = await ctx.loaders.orderById.load(result.orderId);
    if (!order) throw orderNotFound(result.orderId);
    return order;
  };
}

/** What a failed attempt left behind: a reservation that may exist, and whether the order surely did not commit. */
interface Attempt {
  reservationId?: string;
  rolledBack?: boolean;
}

/** Reserve, then write the order and its events; the transaction holds the order id's lock throughout. */
async function placeInTransaction(
  tx: Tx,
  services: OrdersServices,
  ctx: OrdersContext,
  order: { userId: string; lines: Line[] },
  attempt: Attempt,
): Promise<{ orderId: string }> {
  const orderId = randomUUID();
  try {
    await boundTransaction(tx, services.transactionBoundMs, services.callTimeoutMs);
    await lockNewOrderId(tx, orderId);
    attempt.reservationId = orderId;
    let reserved: ReservedLine[];
    try {
      reserved = await services.catalog.call<ReservedLine[]>('/reserve-stock', { reservationId: orderId, lines: order.lines }, ctx.identity);
    } catch (err) {
      // A refusal (NOT_FOUND, INSUFFICIENT_STOCK) took nothing; a timeout may have taken stock.
      if (isPublicError(err)) delete attempt.reservationId;
      throw err;
    }
    const { items, totalCents, currency } = priceOrder(reserved);
    const row = await insertOrder(tx, { id: orderId, customerId: order.userId, status: 'PENDING_PAYMENT', totalCents, currency }, items);
    await enqueue(tx, { type: 'OrderPlaced', payload: { orderId, customerId: order.userId, totalCents, currency } }, orderStatusChanged(row));
    return { orderId };
  } catch (err) {
    // Thrown before the order could commit: its savepoint (or the whole transaction) rolls back.
    attempt.rolledBack = true;
    throw err;
  }
}

/**
 * The error the client gets, after giving back what the attempt reserved. Only an attempt that
 * surely rolled back releases here; one whose commit failed or is unknown (connection lost at
 * COMMIT) is left to catalog, which asks orders and releases only if no order holds it.
 */
async function failedAttempt(services: OrdersServices, ctx: OrdersContext, attempt: Attempt, err: unknown): Promise<unknown> {
  const reservationId = attempt.rolledBack ? attempt.reservationId : undefined;
  if (attempt.reservationId && !reservationId) {
    ctx.log.warn({ reservationId: attempt.reservationId, requestId: ctx.requestId }, 'placeOrder failed at commit; catalog checks the reservation with orders');
  }
  // Unavailable errors are not public, so runIdempotent stored nothing: the same key retries afresh.
  if (err instanceof ServiceUnavailableError) {
    // Not awaited: catalog just failed to answer, the client's answer does not depend on the
    // release, and catalog heals a lost one after RESERVATION_TTL_SECONDS.
    if (reservationId) void releaseStock(services, ctx, reservationId);
    return serviceUnavailable('The catalog did not answer; nothing was ordered. Retry with the same idempotency key.', { service: err.service });
  }
  // Catalog answered: give the stock back before answering, so the client sees it back.
  if (reservationId) await releaseStock(services, ctx, reservationId);
  return err;
}

/** Gives reserved stock back; a failure is logged, not thrown (the caller is already failing). */
export async function releaseStock(services: OrdersServices, ctx: OrdersContext, reservationId: string): Promise<void> {
  try {
    await services.catalog.call('/release-stock', { reservationId }, ctx.identity);
  } catch (err) {
    ctx.log.warn(
      { err: err instanceof GraphQLError ? { message: err.message, extensions: err.extensions } : { message: (err as Error).message }, reservationId, requestId: ctx.requestId },
      'releasing reserved stock failed; catalog releases it once its reservation TTL has passed',
    );
  }
}
