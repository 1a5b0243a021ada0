import { sql } from 'drizzle-orm';
import type { Db } from '../db.js';

/** Rows deleted per statement: short transactions that never hold up the consumers for long. */
const BATCH = 5_000;

export interface PrunedCounts {
  processedEvents: number;
  inboxApplied: number;
}

/**
 * A consumer's bookkeeping that no guarantee needs any more:
 *
 * - `processed_events` rows older than `horizonMs`. Such a row only answers "was this event
 *   applied?" for a redelivery, and no copy of an event older than the horizon can arrive: the
 *   stream trims it after EVENT_RETENTION_HOURS, and the relay republishes only rows within that
 *   window. The horizon is the outbox's (max(7 days, 2 × retention)), so it is never shorter.
 * - `event_inbox` rows that are not dead letters and whose event is already applied (a copy kept
 *   early, then applied through another copy: its seq is at or below its entity's position).
 *
 * `event_positions` is kept: one row per entity and consumer group, so it grows with the entities
 * (like the domain tables), not with the events; deleting one would make that entity's next event
 * look early and wait forever. Order and exactly-once rest on it: a redelivered event at or below
 * the position is a no-op whether or not its processed_events row still exists.
 */
export async function pruneConsumerBookkeeping(db: Db<Record<string, unknown>>, horizonMs: number): Promise<PrunedCounts> {
  const counts: PrunedCounts = { processedEvents: 0, inboxApplied: 0 };
  for (;;) {
    const deleted = await db.execute(sql`delete from processed_events where ctid = any(array(
      select ctid from processed_events where processed_at < now() - make_interval(secs => ${horizonMs / 1000}) limit ${BATCH}))`);
    counts.processedEvents += deleted.count;
    if (deleted.count < BATCH) break;
  }
  for (;;) {
    const deleted = await db.execute(sql`delete from event_inbox where ctid = any(array(
      select i.ctid from event_inbox i join event_positions p
        on p.consumer = i.consumer and p.stream = i.stream and p.entity = i.entity
      where i.parked_at is null and i.seq is not null and i.seq <= p.seq limit ${BATCH}))`);
    counts.inboxApplied += deleted.count;
    if (deleted.count < BATCH) break;
  }
  return counts;
}
