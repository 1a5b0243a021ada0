import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneConsumerBookkeeping } from '../platform/events/pruning.js';
import { TOMBSTONE_RETENTION_MS, pruneReservationTombstones } from '../subgraphs/catalog/reservation-reaper.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/**
 * Issue 23, item 15: event bookkeeping is pruned and stays bounded. Invariant, read in the
 * databases: every order has exactly one invoice, nothing waits or is parked in billing's inbox,
 * and an applied event delivered again after its processed_events row was pruned is a no-op (its
 * entity's position still says it was applied).
 */
const HORIZON_MS = 7 * 24 * 3_600_000; // max(7 days, 2 × EVENT_RETENTION_HOURS of 24 h): what the housekeeping uses
let stack: Stack;
let customer: TestUser;
let productId: string;
let billingSql: postgres.Sql;

beforeAll(async () => {
  stack = await startStack();
  customer = await stack.customer('Pruned');
  productId = (await stack.product({ stock: 1_000_000, priceCents: 100 })).id;
  billingSql = postgres(stack.databaseUrls.billing, { max: 2, onnotice: () => {} });
}, 120_000);
afterAll(async () => {
  await billingSql?.end();
  await stack?.close();
});

const placeOrder = async () => {
  const res = await stack.gql(
    `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
    { input: { items: [{ productId, quantity: 1 }], idempotencyKey: `prune-${randomUUID()}` } },
    { token: customer.token },
  );
  if (!res.data?.placeOrder) throw new Error(JSON.stringify(res.errors));
  return res.data.placeOrder.id as string;
};
const invoiced = (orderId: string) =>
  eventually(async () => ((await stack.sql.billing`select 1 from invoices where order_id = ${orderId}`).length === 1 ? true : undefined));
const count = async (table: string) => Number((await billingSql`select count(*)::int as n from ${billingSql(table)}`)[0]!.n);

describe('pruning event bookkeeping', () => {
  it('keeps processed_events and event_inbox bounded over 300,000 synthetic events while consumers apply real ones', async () => {
    const db = drizzle(billingSql);
    const sizes: string[] = [];
    for (let round = 0; round < 3; round++) {
      // 100,000 events applied beyond the horizon, 1,000 within it, and 2,000 early copies already applied.
      await billingSql`insert into processed_events (consumer, event_id, processed_at)
        select 'soak', gen_random_uuid(), now() - interval '8 days' from generate_series(1, 100000)`;
      await billingSql`insert into processed_events (consumer, event_id, processed_at)
        select 'soak', gen_random_uuid(), now() - interval '1 day' from generate_series(1, 1000)`;
      await billingSql`insert into event_positions (consumer, stream, entity, seq)
        select 'soak', 'orders', ${`order:r${round}-`} || gen_random_uuid(), 5 from generate_series(1, 2000)`;
      await billingSql`insert into event_inbox (consumer, event_id, stream, entity, seq, type, payload, occurred_at, stream_id)
        select consumer, gen_random_uuid(), stream, entity, 3, 'OrderPlaced', '{}', now(), '0-1' from event_positions
        where consumer = 'soak' and entity like ${`order:r${round}-%`}`;
      const before = { processed: await count('processed_events'), inbox: await count('event_inbox') };
      // Real events applied by billing's consumer while the pruner runs.
      const [orders, pruned] = await Promise.all([
        Promise.all(Array.from({ length: 5 }, placeOrder)),
        pruneConsumerBookkeeping(db, HORIZON_MS),
      ]);
      for (const id of orders) await invoiced(id);
      const after = { processed: await count('processed_events'), inbox: await count('event_inbox') };
      sizes.push(
        `round ${round + 1}: processed_events ${before.processed} -> ${after.processed}, event_inbox ${before.inbox} -> ${after.inbox}`,
      );
      expect(pruned.processedEvents).toBeGreaterThanOrEqual(100_000);
      expect(pruned.inboxApplied).toBe(2_000);
      // Bounded: what is left is the events within the horizon (1,000 a round) and the real ones.
      expect(await count('event_inbox')).toBe(0);
      expect(after.processed).toBeLessThan(1_000 * (round + 1) + 200);
    }
    console.log(sizes.join('\n'));
  }, 120_000);

  it('an applied event delivered again after its processed_events row was pruned is a no-op', async () => {
    const orderId = await placeOrder();
    await invoiced(orderId);
    const [placed] = await stack.sql.orders`select event_id from outbox where type = 'OrderPlaced' and payload->>'orderId' = ${orderId}`;
    const eventId = placed!.event_id as string;
    // The row ages past the horizon; the real pruner removes it.
    await billingSql`update processed_events set processed_at = now() - interval '8 days' where event_id = ${eventId}`;
    await pruneConsumerBookkeeping(drizzle(billingSql), HORIZON_MS);
    expect(await billingSql`select 1 from processed_events where event_id = ${eventId}`).toHaveLength(0);
    // Delivered again: the relay republishes the row, as after a Redis loss.
    await stack.sql.orders`update outbox set published_at = null, stream_id = null where event_id = ${eventId}`;
    await eventually(async () =>
      (await stack.sql.orders`select 1 from outbox where event_id = ${eventId} and published_at is not null`).length ? true : undefined,
    );
    // A later event on the same stream is applied after the copy (the group reads in stream order).
    const later = await placeOrder();
    await invoiced(later);
    const invariant = await billingSql`select
      (select count(*)::int from invoices where order_id = ${orderId}) as invoices,
      (select count(*)::int from event_inbox where consumer <> 'soak') as inbox,
      (select count(*)::int from processed_events where event_id = ${eventId}) as processed`;
    expect(invariant[0]).toEqual({ invoices: 1, inbox: 0, processed: 0 });
  }, 120_000);

  it('deletes reservation tombstones past their retention, never a held or confirmed reservation', async () => {
    const live = Number((await stack.sql.catalog`select count(*)::int as n from reservations where status <> 'RELEASED'`)[0]!.n);
    await stack.sql.catalog`insert into reservations (reservation_id, status, check_after, released_at, created_at)
      select gen_random_uuid(), 'RELEASED', now(), now() - interval '8 days', now() - interval '8 days' from generate_series(1, 50000)`;
    await stack.sql.catalog`insert into reservations (reservation_id, status, check_after, released_at)
      select gen_random_uuid(), 'RELEASED', now(), now() - interval '1 hour' from generate_series(1, 500)`;
    await stack.sql.catalog`insert into stock_reservations (reservation_id, product_id, quantity, unit_price_cents, currency, released_at)
      select reservation_id, ${productId}, 1, 100, 'USD', released_at from reservations where status = 'RELEASED' and released_at < now() - interval '7 days'`;
    const db = drizzle(postgres(stack.databaseUrls.catalog, { max: 1, onnotice: () => {} }));
    try {
      expect(await pruneReservationTombstones(db, TOMBSTONE_RETENTION_MS)).toBe(50_000);
    } finally {
      await db.$client.end();
    }
    const [left] = await stack.sql.catalog`select
      (select count(*)::int from reservations where status = 'RELEASED' and released_at < now() - interval '7 days') as old,
      (select count(*)::int from reservations where status = 'RELEASED') as tombstones,
      (select count(*)::int from reservations where status <> 'RELEASED') as live,
      (select count(*)::int from stock_reservations l where not exists (select 1 from reservations r where r.reservation_id = l.reservation_id)) as orphans`;
    expect(left!.old).toBe(0);
    expect(left!.tombstones).toBeGreaterThanOrEqual(500);
    expect(left!.live).toBeGreaterThanOrEqual(live);
    expect(left!.orphans).toBe(0);
  });
});
