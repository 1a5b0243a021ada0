import { and, eq, getTableColumns, isNull, lte, sql } from 'drizzle-orm';
import type { Database } from '../db.js';
import type { Tx } from '../idempotency.js';
import type { Logger } from '../logger.js';
import type { BusSettings, EventBus } from './bus.js';
import { eventInbox, eventPositions } from './inbox.js';
import type { InboxRow } from './inbox.js';
import { processedEvents } from './outbox.js';
import type { EventPayloads, EventType, StreamEvent, StreamName } from './types.js';

export type EventHandlers = {
  [T in EventType]?: (tx: Tx, payload: EventPayloads[T], event: StreamEvent<T>) => Promise<void>;
};

/** What a subgraph's events.ts declares: the handlers it applies to one producer's stream. */
export interface ConsumedStream {
  stream: StreamName;
  handlers: EventHandlers;
}

type Outcome = 'applied' | 'applied, successor waiting' | 'duplicate' | 'early' | 'failed';

/** An event and how many times it has failed so far (0 when it comes straight from the stream). */
interface Attempt {
  event: StreamEvent;
  attempts: number;
  /** Whether it has a row in event_inbox (to delete once it is applied). */
  inInbox: boolean;
}

/** Exponential backoff with jitter, so instances retrying the same failure do not move in step. */
export function retryDelayMs(policy: Pick<BusSettings, 'retryBaseMs' | 'retryMaxMs'>, attempts: number): number {
  const ceiling = Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** Math.min(attempts - 1, 30));
  return Math.round(ceiling * (0.5 + Math.random() * 0.5));
}

/** The driver's own message: drizzle's wrapper would add the SQL and its parameters. */
export function errorText(err: unknown): string {
  const cause = (err as { cause?: unknown } | null | undefined)?.cause;
  const inner = cause instanceof Error ? cause : err;
  const code = (inner as { code?: unknown } | null | undefined)?.code;
  const message = inner instanceof Error ? inner.message : String(inner);
  return `${typeof code === 'string' ? `${code}: ` : ''}${message}`.slice(0, 500);
}

const toEvent = (row: InboxRow): StreamEvent =>
  ({
    id: row.streamId,
    eventId: row.eventId,
    type: row.type as EventType,
    payload: row.payload,
    occurredAt: row.occurredAt.toISOString(),
    ...(row.entity != null && row.seq != null ? { entity: row.entity, seq: row.seq } : {}),
  }) as StreamEvent;

/**
 * Subscribes a service's consumer group to a stream, applying each entity's events in the order
 * their producer numbered them (see enqueue), whatever order they arrive in and however many
 * instances read the group:
 * - an event's effects, its processed_events row and its entity's position commit in one
 *   transaction; the position row is locked first, so instances take turns per entity;
 * - an event already applied (a redelivery, a relay's republication) is a no-op;
 * - an early event (its predecessor not applied yet) is kept in event_inbox and applied right
 *   after its predecessor, by whichever instance applies that one (or the inbox poll);
 * - a failing event is kept in event_inbox and retried with backoff; after EVENT_MAX_ATTEMPTS it
 *   is parked (a dead letter). Its entity's later events wait behind it; other entities go on.
 * Events of types without a handler still advance their entity's position.
 */
// eslint-disable-next-line max-lines-per-function -- the consumer loop's read, retry-inbox and timer parts share its position and shutdown state; each inner function is short
export function startConsumer(opts: {
  bus: EventBus;
  database: Database<Record<string, unknown>>;
  stream: StreamName;
  group: string;
  consumer: string;
  handlers: EventHandlers;
  log: Logger;
  /** After a commit that may have enqueued follow-up events. */
  afterCommit?: () => void;
  /** How often the inbox is polled for retries that are due (default 250 ms). */
  inboxPollMs?: number;
  /** How often while this instance has kept nothing there lately (default 2,000 ms). */
  inboxIdlePollMs?: number;
}): { stop(): Promise<void> } {
  const { bus, database, stream, group, log } = opts;
  const policy = bus.settings;
  const fastPollMs = opts.inboxPollMs ?? 250;
  const idlePollMs = Math.max(fastPollMs, opts.inboxIdlePollMs ?? 2_000);
  /** Until then the inbox is polled every fastPollMs (see the poll below). */
  let busyUntil = 0;

  const apply = async (tx: Tx, event: StreamEvent) => {
    const handler = opts.handlers[event.type] as ((tx: Tx, payload: unknown, event: StreamEvent) => Promise<void>) | undefined;
    const fresh = await tx
      .insert(processedEvents)
      .values({ consumer: group, eventId: event.eventId })
      .onConflictDoNothing()
      .returning({ eventId: processedEvents.eventId });
    if (fresh.length > 0 && handler) await handler(tx, event.payload, event);
  };

  /** Keeps an event in the inbox: early (no failure) or failed (one more try used up). */
  const keep = async (tx: Tx, { event, attempts }: Attempt, failure?: unknown) => {
    busyUntil = Date.now() + policy.retryMaxMs + fastPollMs;
    const tries = failure === undefined ? attempts : attempts + 1;
    const parked = failure !== undefined && tries >= policy.maxAttempts;
    const state = {
      attempts: tries,
      nextAttemptAt: new Date(Date.now() + (failure === undefined ? 0 : retryDelayMs(policy, tries))),
      lastError: failure === undefined ? null : errorText(failure),
      parkedAt: parked ? new Date() : null,
    };
    const insert = tx.insert(eventInbox).values({
      consumer: group,
      eventId: event.eventId,
      stream,
      entity: event.entity ?? null,
      seq: event.seq ?? null,
      type: event.type,
      payload: event.payload,
      occurredAt: new Date(event.occurredAt),
      streamId: event.id,
      ...state,
    });
    // An early copy that is already kept stays as it is; a failure updates the kept row's tries.
    if (failure === undefined) await insert.onConflictDoNothing();
    else await insert.onConflictDoUpdate({ target: [eventInbox.consumer, eventInbox.eventId], set: state });
    if (failure !== undefined) {
      log.warn(
        { type: event.type, eventId: event.eventId, entity: event.entity, attempts: tries, parked, error: state.lastError },
        parked ? 'event handler failed for the last time; event parked as a dead letter' : 'event handler failed; will retry',
      );
    }
  };

  /** One try at an event, in one transaction with its bookkeeping. */
  const attempt = (a: Attempt): Promise<Outcome> =>
    database.background.transaction(async (tx) => {
      const { event } = a;
      const done = async (outcome: Outcome) => {
        if (a.inInbox) await tx.delete(eventInbox).where(and(eq(eventInbox.consumer, group), eq(eventInbox.eventId, event.eventId)));
        return outcome;
      };
      const ordered = event.entity != null && event.seq != null;
      if (ordered) {
        // Upsert-and-return locks the position row: instances of this group take turns per entity.
        const [row] = await tx
          .insert(eventPositions)
          .values({ consumer: group, stream, entity: event.entity!, seq: 0 })
          .onConflictDoUpdate({
            target: [eventPositions.consumer, eventPositions.stream, eventPositions.entity],
            set: { seq: sql`${eventPositions.seq}` },
          })
          .returning({ seq: eventPositions.seq });
        const position = row!.seq;
        if (event.seq! <= position) return done('duplicate');
        if (event.seq! > position + 1) {
          if (!a.inInbox) await keep(tx as Tx, a);
          return 'early';
        }
      }
      try {
        await tx.transaction((sp) => apply(sp as Tx, event));
      } catch (err) {
        await keep(tx as Tx, a, err);
        return 'failed';
      }
      if (ordered) {
        // Advancing also tells whether the successor is already waiting (one statement, not two).
        const [moved] = await tx
          .update(eventPositions)
          .set({ seq: event.seq! })
          .where(and(eq(eventPositions.consumer, group), eq(eventPositions.stream, stream), eq(eventPositions.entity, event.entity!)))
          .returning({
            successorWaiting: sql<boolean>`exists (select 1 from event_inbox i where i.consumer = ${group} and i.stream = ${stream}
              and i.entity = ${event.entity!} and i.seq = ${event.seq! + 1})`,
          });
        if (moved?.successorWaiting) return done('applied, successor waiting');
      }
      return done('applied');
    });

  /**
   * Inbox rows that may be tried now: due, not parked, and next (or already applied) in their entity.
   * Prepared once (two shapes: any entity, one entity): the inbox poll runs every few hundred ms,
   * and building this statement each time was most of an idle consumer's CPU (`npm run bench:idle`).
   */
  const dueStatement = (oneEntity: boolean) =>
    database.background
      .select(getTableColumns(eventInbox))
      .from(eventInbox)
      .leftJoin(
        eventPositions,
        and(
          eq(eventPositions.consumer, eventInbox.consumer),
          eq(eventPositions.stream, eventInbox.stream),
          eq(eventPositions.entity, eventInbox.entity),
        ),
      )
      .where(
        and(
          eq(eventInbox.consumer, group),
          eq(eventInbox.stream, stream),
          isNull(eventInbox.parkedAt),
          lte(eventInbox.nextAttemptAt, sql`now()`),
          sql`(${eventInbox.seq} is null or ${eventInbox.seq} <= coalesce(${eventPositions.seq}, 0) + 1)`,
          oneEntity ? eq(eventInbox.entity, sql.placeholder('entity')) : undefined,
        ),
      )
      .orderBy(eventInbox.nextAttemptAt)
      .limit(100)
      .prepare(oneEntity ? 'inbox_due_entity' : 'inbox_due');
  const dueAny = dueStatement(false);
  const dueOfEntity = dueStatement(true);
  const dueRows = (entity?: string): Promise<InboxRow[]> => (entity === undefined ? dueAny.execute() : dueOfEntity.execute({ entity }));

  /** Tries what the inbox holds for one entity (or every due row), following each entity's chain. */
  const drainInbox = async (entity?: string): Promise<void> => {
    for (let round = 0; round < 1_000; round += 1) {
      const rows = await dueRows(entity);
      if (rows.length) busyUntil = Math.max(busyUntil, Date.now() + fastPollMs);
      let progressed = false;
      for (const row of rows) {
        const outcome = await attempt({ event: toEvent(row), attempts: row.attempts, inInbox: true });
        if (outcome.startsWith('applied')) opts.afterCommit?.();
        if (outcome !== 'early' && outcome !== 'failed') progressed = true;
      }
      if (!progressed) return;
    }
  };

  const receive = async (event: StreamEvent) => {
    const outcome = await attempt({ event, attempts: 0, inInbox: false });
    if (!outcome.startsWith('applied')) return;
    log.debug({ type: event.type, eventId: event.eventId }, 'event applied');
    opts.afterCommit?.();
    // Its successor arrived first (at this instance or another) and waits in the inbox: it is next now.
    if (outcome === 'applied, successor waiting') await drainInbox(event.entity);
  };

  /*
   * The inbox poll: the safety net for retries that fall due, and for rows another instance of this
   * group kept and could not try (it crashed). Early events are drained as soon as their predecessor
   * is applied, without it. It polls every `inboxPollMs` while this instance has rows there that may
   * fall due (after keeping one, for as long as a retry can be delayed: EVENT_RETRY_MAX_MS), and
   * every `inboxIdlePollMs` otherwise: an idle consumer then costs a statement every 2 s, not 4 a second.
   */
  let polling: Promise<void> | undefined;
  let pollTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  const poll = (): Promise<void> =>
    (polling ??= drainInbox()
      .catch((err: unknown) => log.warn({ error: errorText(err), stream, group }, 'event inbox poll failed; will retry'))
      .finally(() => {
        polling = undefined;
      }));
  const schedulePoll = (delayMs: number) => {
    if (stopped) return;
    pollTimer = setTimeout(() => void poll().then(() => schedulePoll(Date.now() < busyUntil ? fastPollMs : idlePollMs)), delayMs);
    pollTimer.unref();
  };
  schedulePoll(fastPollMs);

  const consumer = bus.consume({ stream, group, consumer: opts.consumer, handler: receive });
  return {
    async stop() {
      stopped = true;
      clearTimeout(pollTimer);
      await consumer.stop();
      await polling;
    },
  };
}
