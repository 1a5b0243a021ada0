import { sql } from 'drizzle-orm';
import { bigint, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: 'date' });

/**
 * Per consumer group, stream and entity: the number of the last event applied. It commits with the
 * event's effects, so it says exactly what the group has seen; only the next number may be applied.
 */
export const eventPositions = pgTable(
  'event_positions',
  {
    consumer: text('consumer').notNull(),
    stream: text('stream').notNull(),
    entity: text('entity').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.consumer, t.stream, t.entity] })],
);

/**
 * Events a consumer group received but could not apply yet: early ones (their entity's previous
 * event is not applied), failing ones waiting for their next try, and parked ones (dead letters,
 * `parked_at` set) waiting for an operator. The stream entry is acknowledged once its row is here,
 * so the database, not Redis's pending list, drives retries.
 */
export const eventInbox = pgTable(
  'event_inbox',
  {
    consumer: text('consumer').notNull(),
    eventId: uuid('event_id').notNull(),
    stream: text('stream').notNull(),
    entity: text('entity'),
    seq: bigint('seq', { mode: 'number' }),
    type: text('type').notNull(),
    payload: jsonb('payload').notNull(),
    occurredAt: ts('occurred_at').notNull(),
    streamId: text('stream_id').notNull(),
    /** Failed tries so far (an early event has none). */
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull().defaultNow(),
    /** The last failure's message (the driver's, never the SQL or its parameters). */
    lastError: text('last_error'),
    /** Set when the event ran out of tries: a dead letter, retried only when an operator says so. */
    parkedAt: ts('parked_at'),
    receivedAt: ts('received_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.consumer, t.eventId] }),
    index('event_inbox_entity_idx').on(t.consumer, t.stream, t.entity, t.seq),
    index('event_inbox_due_idx')
      .on(t.consumer, t.nextAttemptAt)
      .where(sql`${t.parkedAt} is null`),
  ],
);

export type InboxRow = typeof eventInbox.$inferSelect;
