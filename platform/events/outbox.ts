import { SHUTDOWN_STEP_MS, settledWithin } from '../shutdown.js';
import { randomUUID } from 'node:crypto';
import { asc, isNull, sql } from 'drizzle-orm';
import { bigint, bigserial, index, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import type { Database } from '../db.js';
import type { Tx } from '../idempotency.js';
import type { Logger } from '../logger.js';
import type { EventBus } from './bus.js';
import { EVENT_STREAMS, compareStreamIds, entityOf } from './types.js';
import type { EventPayloads, EventType, StreamName } from './types.js';

/**
 * Transactional outbox: events are rows written in the same transaction as the change that causes
 * them, so a crash can neither lose an event nor announce a change that rolled back. A relay then
 * moves committed rows to the bus. Each producing service exports this table from its schema.
 */
export const outbox = pgTable(
  'outbox',
  {
    position: bigserial('position', { mode: 'number' }).primaryKey(),
    eventId: uuid('event_id').notNull().unique(),
    type: text('type').notNull(),
    payload: jsonb('payload').notNull(),
    occurredAt: timestamp('occurred_at', { withTimezone: true, precision: 3, mode: 'date' }).notNull().defaultNow(),
    publishedAt: timestamp('published_at', { withTimezone: true, precision: 3, mode: 'date' }),
    streamId: text('stream_id'),
    /** The entity the event is about, and its number among that entity's events (see event_sequences). */
    entity: text('entity'),
    seq: bigint('seq', { mode: 'number' }),
  },
  (t) => [
    index('outbox_unpublished_idx')
      .on(t.position)
      .where(sql`${t.publishedAt} is null`),
    // The reconciliation with Redis looks up rows by stream id, compared as numbers ("<ms>-<n>").
    index('outbox_stream_id_idx')
      .on(sql`(split_part(${t.streamId}, '-', 1)::bigint)`, sql`(split_part(${t.streamId}, '-', 2)::bigint)`)
      .where(sql`${t.streamId} is not null`),
  ],
);

/**
 * The last number given to each entity's events. Upserting it in the producing transaction locks
 * the row until commit, so two transactions producing events of one entity take turns: the
 * numbers are gapless and their order is the commit order.
 */
export const eventSequences = pgTable('event_sequences', {
  entity: text('entity').primaryKey(),
  seq: bigint('seq', { mode: 'number' }).notNull(),
});

/**
 * Consumer-side idempotency: a handler's effects and this row commit together, so a redelivered
 * event (at-least-once) finds its row and is skipped (exactly-once effects).
 */
export const processedEvents = pgTable(
  'processed_events',
  {
    consumer: text('consumer').notNull(),
    eventId: uuid('event_id').notNull(),
    processedAt: timestamp('processed_at', { withTimezone: true, precision: 3, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.eventId] })],
);

/** Writes events into the outbox inside the caller's transaction, numbering them per entity. */
export async function enqueue<T extends EventType>(tx: Tx, ...events: { type: T; payload: EventPayloads[T] }[]): Promise<void> {
  if (events.length === 0) return;
  const entities = events.map((e) => entityOf(e.type, e.payload));
  const counts = new Map<string, number>();
  for (const entity of entities) counts.set(entity, (counts.get(entity) ?? 0) + 1);
  // One upsert per entity (sorted, so two transactions lock shared entities in the same order).
  const next = new Map<string, number>();
  for (const [entity, n] of [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const [row] = await tx
      .insert(eventSequences)
      .values({ entity, seq: n })
      .onConflictDoUpdate({ target: eventSequences.entity, set: { seq: sql`${eventSequences.seq} + ${n}` } })
      .returning({ seq: eventSequences.seq });
    next.set(entity, row!.seq - n + 1);
  }
  await tx.insert(outbox).values(
    events.map((e, i) => {
      const entity = entities[i]!;
      const seq = next.get(entity)!;
      next.set(entity, seq + 1);
      return { eventId: randomUUID(), type: e.type, payload: e.payload, entity, seq };
    }),
  );
}

export interface OutboxRelay {
  /** Publish now (called after a commit that enqueued events); the poll covers anything missed. */
  kick(): void;
  /** Rows relayed again because the bus had lost them (events_republished_total). */
  stats(): { republished: number };
  stop(): Promise<void>;
}

/**
 * Moves committed outbox rows to the bus in order. Rows are claimed with FOR UPDATE SKIP LOCKED, so
 * several instances of a service can relay side by side without publishing a row twice; a crash
 * between publishing and marking republishes it, which consumers absorb (processed_events).
 */
// eslint-disable-next-line max-lines-per-function -- a factory: the length is its returned methods, which share the closure's state; each method is short
export function createOutboxRelay(opts: {
  database: Database<Record<string, unknown>>;
  bus: EventBus;
  stream: StreamName;
  log: Logger;
  pollMs?: number;
  batchSize?: number;
  /** How often the relay checks that the bus still holds everything it acknowledged. */
  reconcileMs?: number;
}): OutboxRelay {
  const { database, bus, stream, log } = opts;
  const batchSize = opts.batchSize ?? 200;
  let running = true;
  let pending: Promise<void> | null = null;
  let again = false;
  let reconcileDue = true;
  // Until then, each reconciliation also checks that the bus holds the recent events one by one.
  let deepUntil = Date.now() + DEEP_AFTER_RECONNECT_MS;
  let republished = 0;

  const drainOnce = async (): Promise<number> =>
    database.background.transaction(async (tx) => {
      const rows = await tx
        .select()
        .from(outbox)
        .where(isNull(outbox.publishedAt))
        .orderBy(asc(outbox.position))
        .limit(batchSize)
        .for('update', { skipLocked: true });
      if (rows.length === 0) return 0;
      for (const row of rows) {
        if (EVENT_STREAMS[row.type as EventType] !== stream) throw new Error(`event ${row.type} does not belong to stream ${stream}`);
      }
      const ids = await bus.append(
        stream,
        rows.map((r) => ({
          eventId: r.eventId,
          type: r.type as EventType,
          payload: r.payload,
          occurredAt: r.occurredAt.toISOString(),
          ...(r.entity && r.seq != null ? { entity: r.entity, seq: r.seq } : {}),
        })),
      );
      await tx.execute(sql`update outbox set published_at = now(), stream_id = data.stream_id
        from (select unnest(${sql.param(rows.map((r) => r.position))}::bigint[]) as position, unnest(${sql.param(ids)}::text[]) as stream_id) as data
        where outbox.position = data.position`);
      return rows.length;
    });

  const run = () => {
    if (pending) {
      again = true;
      return pending;
    }
    pending = (async () => {
      try {
        do {
          again = false;
          if (reconcileDue) {
            reconcileDue = false;
            republished += await reconcileWithBus(database, bus, stream, log, { deep: Date.now() < deepUntil });
          }
          // A full batch: there may be more. A reconciliation due (a reconnect) goes first: a backlog appended
          // before it would push what the failover lost out of the one-by-one check's reach.
          while (running && (await drainOnce()) === batchSize) {
            if (reconcileDue) {
              again = true;
              break;
            }
          }
        } while (again && running);
      } catch (err) {
        log.error({ err }, 'outbox relay failed; will retry');
      } finally {
        pending = null;
      }
    })();
    return pending;
  };

  // The poll only catches what no kick announced (another instance's commit, a crash): it can be lazy.
  // Each poll is a transaction (select ... for update skip locked); at 500 ms that alone cost an idle
  // producer ~8 ms/s of CPU and Postgres ~4 ms/s per producer (`npm run bench:idle`), so 2 s.
  const timer = setInterval(() => void run(), opts.pollMs ?? 2_000);
  timer.unref();
  const reconcile = () => {
    reconcileDue = true;
    void run();
  };
  const reconcileTimer = setInterval(reconcile, opts.reconcileMs ?? 5_000);
  reconcileTimer.unref();
  const offReconnect = bus.onReconnect(() => {
    deepUntil = Date.now() + DEEP_AFTER_RECONNECT_MS;
    reconcile();
  });
  void run();

  return {
    kick: () => void run(),
    stats: () => ({ republished }),
    async stop() {
      running = false;
      clearInterval(timer);
      clearInterval(reconcileTimer);
      offReconnect();
      // An append Redis does not answer is cut when the bus closes: its rows stay unpublished, relayed again later.
      if (!(await settledWithin(pending, SHUTDOWN_STEP_MS)))
        log.warn(
          { stream, waitedMs: SHUTDOWN_STEP_MS },
          'outbox relay still waiting for Redis at shutdown; its rows stay unpublished for the next relay',
        );
    },
  };
}

const streamIdParts = (id: string) => id.split('-') as [string, string];

/**
 * After a reconnect (a failover is one), reconciliations check event by event for this long: an
 * append in flight when the primary died may be recorded a moment after the first check.
 */
const DEEP_AFTER_RECONNECT_MS = 15_000;
/** What an event-by-event check covers: a failover loses what was acknowledged shortly before it. */
const DEEP_CHECK_WINDOW_MS = 5 * 60_000;
const DEEP_CHECK_MAX_ROWS = 10_000;

/**
 * The outbox is the source of truth and the bus only a transport: Redis may lose writes it
 * acknowledged (FLUSHALL, a restart without AOF or from an old snapshot, failover to a stale
 * replica). Its stream's last-generated-id never goes down otherwise, so when it is below the
 * highest stream id recorded here, every row recorded above it is marked unpublished again and
 * relayed anew, in order. Consumers absorb the copies they already had (event ids, sequences).
 * The recorded maximum is read before Redis's, so an append in between can only cause a harmless
 * duplicate, never a miss. `deep` (for a while after each reconnect) also looks up the recent
 * events one by one (republishMissing). Returns the number of rows republished.
 */
export async function reconcileWithBus(
  database: Database<Record<string, unknown>>,
  bus: EventBus,
  stream: StreamName,
  log: Logger,
  opts: { deep?: boolean } = {},
): Promise<number> {
  const reset = await republishAboveHeld(database, bus, stream, log);
  return reset || !opts.deep ? reset : republishMissing(database, bus, stream, log);
}

async function republishAboveHeld(
  database: Database<Record<string, unknown>>,
  bus: EventBus,
  stream: StreamName,
  log: Logger,
): Promise<number> {
  const [newest] = await database.background.execute<{ stream_id: string }>(sql`select stream_id from outbox
    where stream_id is not null
    order by split_part(stream_id, '-', 1)::bigint desc, split_part(stream_id, '-', 2)::bigint desc limit 1`);
  if (!newest) return 0;
  const held = await bus.lastGeneratedId(stream);
  if (compareStreamIds(held, newest.stream_id) >= 0) return 0;
  const [ms, n] = streamIdParts(held);
  // Older than the bus's retention window, an event would have been trimmed from the stream anyway.
  const reset = await database.background.execute(sql`update outbox set published_at = null, stream_id = null
    where stream_id is not null
      and (split_part(stream_id, '-', 1)::bigint, split_part(stream_id, '-', 2)::bigint) > (${ms}::bigint, ${n}::bigint)
      and published_at > now() - make_interval(secs => ${bus.settings.retentionMs / 1000})
    returning position`);
  log.warn(
    { stream, held, recorded: newest.stream_id, republished: reset.length },
    'the event bus lost events it had acknowledged; relaying them again from the outbox',
  );
  return reset.length;
}

/**
 * The stream's last-generated-id is not enough after a failover to a replica that was behind:
 * relays append to the new primary as soon as they reconnect, which lifts that id above what was
 * lost before any check runs. So the recent rows' stream ids are looked up one by one, and every
 * row whose entry the bus does not hold is marked unpublished and relayed anew. Consumers park an
 * event that arrives ahead of a missing one and take both in order when it comes (consumer.ts).
 */
async function republishMissing(
  database: Database<Record<string, unknown>>,
  bus: EventBus,
  stream: StreamName,
  log: Logger,
): Promise<number> {
  // By the stream id's time (Redis's clock at the append): a range of outbox_stream_id_idx, not a scan of the whole outbox.
  const since = Date.now() - Math.min(DEEP_CHECK_WINDOW_MS, bus.settings.retentionMs);
  const rows = await database.background.execute<{ position: string; stream_id: string }>(sql`select position, stream_id from outbox
    where stream_id is not null and split_part(stream_id, '-', 1)::bigint > ${since}
    order by split_part(stream_id, '-', 1)::bigint desc, split_part(stream_id, '-', 2)::bigint desc
    limit ${DEEP_CHECK_MAX_ROWS}`);
  if (rows.length === 0) return 0;
  const missing = new Set(
    await bus.missingIds(
      stream,
      rows.map((r) => r.stream_id),
    ),
  );
  const lost = rows.filter((r) => missing.has(r.stream_id));
  if (lost.length === 0) return 0;
  // Only if still recorded under the lost id: another relay may have republished the row meanwhile.
  const reset = await database.background.execute(sql`update outbox set published_at = null, stream_id = null
    from (select unnest(${sql.param(lost.map((r) => r.position))}::bigint[]) as position,
                 unnest(${sql.param(lost.map((r) => r.stream_id))}::text[]) as stream_id) as lost
    where outbox.position = lost.position and outbox.stream_id = lost.stream_id
    returning outbox.position`);
  log.warn(
    { stream, checked: rows.length, republished: reset.length },
    'the event bus lost events it had acknowledged (found one by one after a reconnect); relaying them again from the outbox',
  );
  return reset.length;
}

/** Deletes published rows older than the window (the bus keeps its own retention). */
export async function pruneOutbox(database: Database<Record<string, unknown>>, olderThanMs: number): Promise<void> {
  await database.background.delete(outbox).where(sql`${outbox.publishedAt} < now() - make_interval(secs => ${olderThanMs / 1000})`);
}
