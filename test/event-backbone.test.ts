import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { createDatabase } from '../platform/db.js';
import type { Database } from '../platform/db.js';
import type { EventBus } from '../platform/events/bus.js';
import { startConsumer } from '../platform/events/consumer.js';
import { createMemoryBus } from '../platform/events/memory-bus.js';
import { createOutboxRelay, enqueue, outbox, processedEvents, pruneOutbox } from '../platform/events/outbox.js';
import { createRedisBus } from '../platform/events/redis-bus.js';
import type { StreamEvent } from '../platform/events/types.js';
import type { Tx } from '../platform/idempotency.js';
import { createLogger } from '../platform/logger.js';
import { ensureDatabase, migrateSubgraph } from '../platform/migrate.js';
import { eventually } from './support/stack.js';

/** The backbone on its own: outbox, relay, consumer groups, redelivery, on real Postgres and Redis. */
const log = createLogger('test', 'silent');
let database: Database<Record<string, unknown>>;
let admin: postgres.Sql;
let redis: Redis;

beforeAll(async () => {
  const { adminUrl } = inject('postgres');
  const name = `t_${randomUUID().slice(0, 8)}_events`;
  await ensureDatabase(adminUrl, name);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await migrateSubgraph('catalog', url.toString()); // any producing service's schema has outbox + processed_events
  database = createDatabase(
    { DATABASE_URL: url.toString(), DATABASE_REPLICA_URLS: [], DATABASE_POOL_MAX: 4 },
    {},
    { applicationName: 'events-test' },
  );
  admin = postgres(url.toString(), { max: 1, onnotice: () => {} });
  await admin`create table effects (event_id uuid not null, order_id text not null)`;
  redis = new Redis(inject('redis').url);
});
afterAll(async () => {
  await admin?.end();
  await database?.close();
  redis?.disconnect();
});

describe('outbox housekeeping', () => {
  it('prunes relayed rows past the window and keeps recent or unpublished ones', async () => {
    const [oldId, recentId, pendingId] = [randomUUID(), randomUUID(), randomUUID()];
    await admin`insert into outbox (event_id, type, payload, published_at) values
      (${oldId}, 'OrderCancelled', '{}', now() - interval '8 days'),
      (${recentId}, 'OrderCancelled', '{}', now() - interval '1 day'),
      (${pendingId}, 'OrderCancelled', '{}', null)`;
    await pruneOutbox(database, 7 * 24 * 3_600_000);
    const left = (await admin`select event_id from outbox where event_id in (${oldId}, ${recentId}, ${pendingId})`).map((r) => r.event_id);
    expect(left.sort()).toEqual([recentId, pendingId].sort());
    await admin`delete from outbox where event_id in (${recentId}, ${pendingId})`; // not for the relay tests below
  });
});

const buses: [string, (ns: string) => EventBus][] = [
  [
    'Redis Streams',
    (ns) =>
      createRedisBus(
        { REDIS_URL: inject('redis').url },
        { namespace: ns, retentionMs: 3_600_000, claimIdleMs: 200, blockMs: 200, maxAttempts: 3, retryBaseMs: 50, retryMaxMs: 200 },
        log,
      ),
  ],
  [
    'embedded bus',
    (ns) =>
      createMemoryBus({
        namespace: ns,
        retentionMs: 3_600_000,
        claimIdleMs: 200,
        blockMs: 200,
        maxAttempts: 3,
        retryBaseMs: 50,
        retryMaxMs: 200,
      }),
  ],
];

const cancelled = (orderId: string) => ({ type: 'OrderCancelled' as const, payload: { orderId, customerId: randomUUID() } });

describe.each(buses)('event backbone on %s', (_name, makeBus) => {
  it('publishes only committed events, in commit order, and a crash before XACK causes no second effect', async () => {
    const ns = `${randomUUID().slice(0, 8)}:`;
    // A new bus holds none of the rows an earlier case relayed: the relay would rightly republish them.
    await admin`delete from outbox`;
    const bus = makeBus(ns);
    const relay = createOutboxRelay({ database, bus, stream: 'orders', log, pollMs: 50 });
    const a = randomUUID();
    const b = randomUUID();
    await database.primary.transaction((tx) => enqueue(tx as Tx, cancelled(a)));
    // A rolled-back change leaves no event behind.
    await database.primary
      .transaction(async (tx) => {
        await enqueue(tx as Tx, cancelled('rolled-back'));
        throw new Error('rollback');
      })
      .catch(() => {});
    await database.primary.transaction((tx) => enqueue(tx as Tx, cancelled(b)));
    relay.kick();

    // The consumer "crashes" after its transaction committed but before the acknowledgement, once.
    let crashes = 0;
    const delivered: StreamEvent[] = [];
    const crashingBus: EventBus = {
      ...bus,
      consume: (o) =>
        bus.consume({
          ...o,
          handler: async (event) => {
            delivered.push(event);
            await o.handler(event);
            if (crashes++ === 0) throw new Error('killed between commit and XACK');
          },
        }),
    };
    const consumer = startConsumer({
      bus: crashingBus,
      database,
      stream: 'orders',
      group: `billing-${ns}`,
      consumer: 'c1',
      log,
      handlers: {
        OrderCancelled: async (tx, payload, event) => {
          await tx.execute(sql`insert into effects (event_id, order_id) values (${event.eventId}, ${payload.orderId})`);
        },
      },
    });
    const effects = await eventually(async () => {
      const rows = await admin`select order_id from effects where order_id in (${a}, ${b}, 'rolled-back') order by order_id`;
      return rows.length >= 2 && delivered.length >= 3 ? rows : undefined;
    });
    expect(effects.map((r) => r.order_id).sort()).toEqual([a, b].sort());
    // The first event was delivered twice (the reclaim after the crash) but applied once.
    expect(delivered.filter((e) => (e.payload as { orderId: string }).orderId === a)).toHaveLength(2);
    expect(delivered.map((e) => (e.payload as { orderId: string }).orderId).filter((id) => id !== a)).toEqual([b]);
    const [published] = await database.primary
      .select({ n: sql<number>`count(*)::int` })
      .from(outbox)
      .where(sql`${outbox.publishedAt} is null`);
    expect(published!.n).toBe(0);
    const [processed] = await database.primary
      .select({ n: sql<number>`count(*)::int` })
      .from(processedEvents)
      .where(sql`${processedEvents.consumer} = ${`billing-${ns}`}`);
    expect(processed!.n).toBe(2);
    if (_name === 'Redis Streams') {
      // Acknowledged in the end: nothing left pending in the group.
      await eventually(async () =>
        ((await redis.xpending(`${ns}events:orders`, `billing-${ns}`)) as [number])[0] === 0 ? true : undefined,
      );
    }
    await consumer.stop();
    await relay.stop();
    await bus.close();
  });

  it("applies an entity's events in their sequence whatever the delivery order; a failing one is parked and its successors wait", async () => {
    const ns = `${randomUUID().slice(0, 8)}:`;
    const bus = makeBus(ns);
    const group = `order-${ns}`;
    const [calm, stuck] = [randomUUID(), randomUUID()];
    const event = (orderId: string, seq: number, type: 'OrderPlaced' | 'OrderCancelled') => ({
      eventId: randomUUID(),
      type,
      occurredAt: new Date().toISOString(),
      entity: `order:${orderId}`,
      seq,
      payload:
        type === 'OrderPlaced'
          ? { orderId, customerId: randomUUID(), totalCents: 1, currency: 'USD' }
          : { orderId, customerId: randomUUID() },
    });
    // Delivered backwards: each order's cancel (seq 2) before its placement (seq 1).
    const stuckPlaced = event(stuck, 1, 'OrderPlaced');
    await bus.append('orders', [
      event(calm, 2, 'OrderCancelled'),
      event(stuck, 2, 'OrderCancelled'),
      event(calm, 1, 'OrderPlaced'),
      stuckPlaced,
    ]);
    const record = (label: string) => async (tx: Tx, payload: { orderId: string }) => {
      if (payload.orderId === stuck && label === 'placed') throw new Error('stuck order refused');
      await tx.execute(sql`insert into effects (event_id, order_id) values (${randomUUID()}, ${`${payload.orderId}:${label}`})`);
    };
    const consumer = startConsumer({
      bus,
      database,
      stream: 'orders',
      group,
      consumer: 'c1',
      log,
      inboxPollMs: 50,
      handlers: { OrderPlaced: record('placed'), OrderCancelled: record('cancelled') },
    });
    const rows = async (orderId: string) =>
      (await admin`select order_id from effects where order_id like ${`${orderId}:%`} order by ctid`).map((r) => r.order_id.split(':')[1]);
    expect(await eventually(async () => ((await rows(calm)).length === 2 ? rows(calm) : undefined))).toEqual(['placed', 'cancelled']);
    const parked = await eventually(
      async () =>
        (
          await admin`select attempts, last_error from event_inbox where consumer = ${group} and event_id = ${stuckPlaced.eventId} and parked_at is not null`
        )[0],
    );
    expect(parked).toEqual({ attempts: 3, last_error: 'stuck order refused' });
    expect(await rows(stuck)).toEqual([]); // its cancel did not overtake it
    expect(await admin`select parked_at from event_inbox where consumer = ${group} and entity = ${`order:${stuck}`} and seq = 2`).toEqual([
      { parked_at: null },
    ]);
    await consumer.stop();
    await bus.close();
  });

  it('replays a stream after an id and knows when that id has been trimmed away', async () => {
    const ns = `${randomUUID().slice(0, 8)}:`;
    const bus = makeBus(ns);
    const ids = await bus.append(
      'orders',
      [1, 2, 3].map((n) => ({
        eventId: randomUUID(),
        type: 'OrderCancelled' as const,
        payload: { n },
        occurredAt: new Date().toISOString(),
      })),
    );
    const after = await bus.readAfter('orders', ids[0]!, 10);
    expect(after.map((e) => e.id)).toEqual(ids.slice(1));
    expect(await bus.isBeyondRetention('orders', ids[0]!)).toBe(false);
    // An id older than the oldest event kept: what followed it may be gone, so resuming is refused.
    expect(await bus.isBeyondRetention('orders', '1-0')).toBe(true);
    expect(await bus.lastId('orders')).toBe(ids[2]);
    await bus.close();
  });
});
