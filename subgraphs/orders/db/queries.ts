import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { SQL } from 'drizzle-orm';
import { preparedPer } from '../../../platform/db.js';
import type { Db } from '../../../platform/db.js';
import type { Tx } from '../../../platform/idempotency.js';
import type { CursorValue } from '../../../platform/pagination.js';
import { onlyIds } from '../../../platform/validation.js';
import { newestFirst, newestPerParent, newestPerParentQuery, rowsOf } from '../../../platform/keyset.js';
import { orderItems, orders } from './tables.js';
import type { NewOrder, NewOrderItem, OrderItemRow, OrderRow, OrderStatus, OrdersTables } from './tables.js';

type OrdersDb = Db<OrdersTables> | Tx;

/** User.orders: newest first, (created_at, id) as the keyset. */
export const newestOrdering = newestFirst<OrderRow>(orders.createdAt, orders.id, (o) => ({ at: o.createdAt, id: o.id }));

const ids = sql.placeholder('ids');

const ordersByIdsStatement = preparedPer((db: OrdersDb) =>
  db
    .select()
    .from(orders)
    .where(sql`${orders.id} = any(${ids}::uuid[])`)
    .prepare('orders_by_ids'),
);

export const ordersByIds = (db: OrdersDb, orderIds: readonly string[]): Promise<OrderRow[]> =>
  ordersByIdsStatement(db).execute({ ids: onlyIds(orderIds) });

const itemsOfOrdersStatement = preparedPer((db: OrdersDb) =>
  db
    .select()
    .from(orderItems)
    .where(sql`${orderItems.orderId} = any(${ids}::uuid[])`)
    .orderBy(asc(orderItems.orderId), asc(orderItems.position))
    .prepare('items_of_orders'),
);

/** The lines of several orders in one statement, each order's lines in the customer's order. */
export const itemsOfOrders = (db: OrdersDb, orderIds: readonly string[]): Promise<OrderItemRow[]> =>
  itemsOfOrdersStatement(db).execute({ ids: onlyIds(orderIds) });

export interface CustomerOrdersArgs {
  limit: number;
  after: CursorValue[] | null;
  status: OrderStatus | null;
}

const newestColumns = { id: orders.id, parent: orders.customerId, at: orders.createdAt };

/** The first page of every customer of a batch, unfiltered: the account page's statement. */
const firstPagesStatement = preparedPer((db: OrdersDb) =>
  newestPerParentQuery(db, orders, newestColumns, [sql`${orders.customerId} = any(${ids}::uuid[])`], sql.placeholder('limit')).prepare(
    'orders_first_pages',
  ),
);

/** Newest orders of several customers in one statement: up to `limit` per customer. */
export async function ordersOfCustomers(db: OrdersDb, customerIds: readonly string[], args: CustomerOrdersArgs): Promise<OrderRow[]> {
  if (!args.status && !args.after) return rowsOf(await firstPagesStatement(db).execute({ ids: onlyIds(customerIds), limit: args.limit }));
  const where: SQL[] = [inArray(orders.customerId, onlyIds(customerIds))];
  if (args.status) where.push(eq(orders.status, args.status));
  if (args.after) where.push(newestOrdering.after(args.after));
  return newestPerParent(db, orders, newestColumns, where, args.limit);
}

export async function lockOrder(tx: Tx, id: string): Promise<OrderRow | undefined> {
  const [row] = await tx.select().from(orders).where(eq(orders.id, id)).for('update');
  return row;
}

export async function setStatus(db: OrdersDb, id: string, status: OrderStatus): Promise<OrderRow | undefined> {
  const [row] = await db.update(orders).set({ status, updatedAt: new Date() }).where(eq(orders.id, id)).returning();
  return row;
}

/**
 * Moves an order only if it is still in `from`: two concurrent moves serialize on the row lock and
 * the loser's WHERE no longer matches, so at most one of them wins.
 */
export async function moveStatus(db: OrdersDb, id: string, from: OrderStatus, to: OrderStatus): Promise<OrderRow | undefined> {
  const [row] = await db
    .update(orders)
    .set({ status: to, updatedAt: new Date() })
    .where(and(eq(orders.id, id), eq(orders.status, from)))
    .returning();
  return row;
}

/** The advisory lock key of an order id (canonical uuid text, so both sides hash the same string). */
const orderLockKey = (id: string) => sql`hashtextextended(${id}::uuid::text, 0)`;

/**
 * Held by placeOrder from before it reserves stock until its transaction ends: whoever asks
 * whether the order exists (lockOrderIdsShared) waits for the answer to be final.
 */
export async function lockNewOrderId(tx: Tx, id: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(${orderLockKey(id)})`);
}

/** Waits for every placeOrder transaction on these ids to end (shared: checkers do not wait on each other). */
export async function lockOrderIdsShared(tx: Tx, ids: string[]): Promise<void> {
  const list = sql.join(
    ids.map((id) => sql`${id}`),
    sql`, `,
  );
  await tx.execute(sql`select pg_advisory_xact_lock_shared(hashtextextended(id::text, 0)) from unnest(array[${list}]::uuid[]) as id`);
}

/**
 * Bounds the current transaction. `statementMs` cancels any one statement stuck that long (on a lock,
 * say) without ending the session; `totalMs` (transaction_timeout, PostgreSQL 17+) has the server end
 * the session of a transaction still open after it, so a stalled or partitioned orders process cannot
 * keep an order able to commit for long. It ends the connection (postgres.js may then crash the
 * process; it is restarted like after a kill -9, which catalog heals), so it is kept generous.
 */
export async function boundTransaction(tx: Tx, totalMs: number, statementMs: number): Promise<void> {
  await tx.execute(sql`select set_config('transaction_timeout', ${`${totalMs}ms`}, true),
    set_config('statement_timeout', ${`${statementMs}ms`}, true)`);
}

/** Stamps the first refund of an order (a redelivered PaymentRefunded changes nothing). */
export async function markRefunded(db: OrdersDb, id: string): Promise<void> {
  const now = new Date();
  await db
    .update(orders)
    .set({ refundedAt: now, updatedAt: now })
    .where(and(eq(orders.id, id), sql`${orders.refundedAt} is null`));
}

/** One order and its lines (the caller's transaction makes them appear together). */
export async function insertOrder(tx: Tx, order: NewOrder, items: Omit<NewOrderItem, 'orderId'>[]): Promise<OrderRow> {
  const [row] = await tx.insert(orders).values(order).returning();
  await tx.insert(orderItems).values(items.map((item) => ({ ...item, orderId: row!.id })));
  return row!;
}

/** Rows per INSERT, well under Postgres' 65 535 bind parameters. */

/** The OrderStatusChanged event for an order's current row (subscribers and billing watch it). */
export const orderStatusChanged = (o: Pick<OrderRow, 'id' | 'customerId' | 'status'>) => ({
  type: 'OrderStatusChanged' as const,
  payload: { orderId: o.id, customerId: o.customerId, status: o.status },
});
