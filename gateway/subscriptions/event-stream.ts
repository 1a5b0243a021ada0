import { GraphQLError } from 'graphql';
import type { ExecutionResult } from 'graphql';

import { isAdmin } from '../../platform/auth/identity.js';
import type { Identity } from '../../platform/auth/identity.js';
import { ErrorCode, appError, badInput, serviceUnavailable, unauthenticated } from '../../platform/errors.js';
import type { EventBus } from '../../platform/events/bus.js';
import { compareStreamIds, isStreamId } from '../../platform/events/types.js';
import type { StreamEvent } from '../../platform/events/types.js';
import type { LiveEvents } from './live-events.js';
import { ENTITY_ID_VARIABLE } from './event-query.js';
import type { PlannedSubscription } from './event-query.js';

/** Apollo Server's code for an operation that does not validate against the schema. */
const VALIDATION_FAILED = 'GRAPHQL_VALIDATION_FAILED';

/** How long the live feed may stay cut before open subscriptions end with SUBSCRIPTION_INTERRUPTED (a blip is replayed seamlessly). */
const FEED_CUT_GRACE_MS = 5_000;
/** How often a replay that failed after the feed came back is tried again (within the same grace). */
const RESYNC_RETRY_MS = 250;

/** Open event streams in this process (hygiene tests check it returns to baseline). */
export const eventStreamStats = { open: 0 };

export interface Subscriber {
  identity: Identity;
  /** When the subscriber's token expires (ms); events stop then. */
  expiresAt: number;
  /** Aborted when the partner key it subscribed with is revoked: the stream ends then, with UNAUTHENTICATED. */
  revoked?: AbortSignal;
}

export interface EventStreamDeps {
  bus: EventBus;
  live: LiveEvents;
  /** Runs the per-event query through the gateway's query pipeline as the subscriber. */
  runQuery(query: string, variables: Record<string, unknown>, identity: Identity, eventId: string): Promise<ExecutionResult>;
  /** Events buffered for one slow subscriber before it is cut off (others are never delayed). */
  maxQueue: number;
  replayPageSize: number;
  /** How long a replay that fails after the feed came back is tried again before the subscription ends resumably. @default 5 s */
  resyncGraceMs?: number;
}

/** Who may subscribe at all; per-event checks happen in `visible` below. */
export function authorizeSubscription(plan: PlannedSubscription, subscriber: Subscriber): void {
  if (plan.field.ownerId && !subscriber.identity.userId) throw unauthenticated('Sign in to subscribe to this field.');
  const after = plan.args.after as string | null | undefined;
  if (after !== undefined && after !== null && !isStreamId(after)) throw badInput('after must be an event id from extensions.eventId.');
}

/** Whether an event belongs to this subscription: its type, the wanted entity, and the subscriber's own (unless admin). */
function visibilityFilter(plan: PlannedSubscription, subscriber: Subscriber): (event: StreamEvent) => boolean {
  const { field } = plan;
  const wanted = (plan.args[field.idArgument] as string | null | undefined) ?? null;
  return (event) => {
    if (event.type !== field.eventType) return false;
    const entityId = field.entityId(event.payload);
    if (entityId === undefined || (wanted !== null && entityId !== wanted)) return false;
    if (!field.ownerId || isAdmin(subscriber.identity)) return true;
    return field.ownerId(event.payload) === subscriber.identity.userId;
  };
}

/** Every visible event after cursor, oldest first; more than `limit` read stops early (the caller gives up then). */
async function readVisibleAfter(
  deps: EventStreamDeps,
  plan: PlannedSubscription,
  visible: (event: StreamEvent) => boolean,
  cursor: string,
  limit: number,
): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for (;;) {
    const page = await deps.bus.readAfter(plan.field.stream, cursor, deps.replayPageSize);
    out.push(...page.filter(visible));
    if (page.length < deps.replayPageSize || out.length > limit) return out;
    cursor = page.at(-1)!.id;
  }
}

/** The last result of a subscription that fell behind: the code, and the id to resubscribe after. */
function catchUpError(code: ErrorCode, message: string, lastEventId: string): IteratorResult<ExecutionResult> {
  return { done: false, value: { errors: [appError(code, message, { lastEventId })] } };
}

/**
 * An event's query refused by validation (only a reload that removed or changed something the
 * selection uses does that: the subscription was validated when it opened): the subscription's last result.
 */
function noLongerValid(result: ExecutionResult, lastEventId: string): ExecutionResult | undefined {
  const refusal = result.data == null ? result.errors?.find((e) => e.extensions.code === VALIDATION_FAILED) : undefined;
  if (!refusal) return undefined;
  const message = `The subscription's selection is no longer valid on the gateway's schema (${refusal.message}); subscribe again with a valid selection.`;
  return { errors: [new GraphQLError(message, { extensions: { code: VALIDATION_FAILED, lastEventId } })] };
}

/** Codes that mean "not yours to see" (the entity is left out), not "could not be fetched". */
const DENIAL_CODES = new Set<unknown>([ErrorCode.UNAUTHENTICATED, ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND]);

/** Whether an event's query has an error other than a denial (a service down, a timeout). */
const failedForService = (result: ExecutionResult) => (result.errors ?? []).some((e) => !DENIAL_CODES.has(e.extensions.code));

/**
 * The subscription's result for one event (`last`: the subscription ends with it), or null when
 * the subscriber may not see the entity. `lastEventId`: where to resume if this event ends it.
 */
async function queryForEvent(
  deps: EventStreamDeps,
  plan: PlannedSubscription,
  subscriber: Subscriber,
  event: StreamEvent,
  lastEventId: string,
): Promise<{ value: ExecutionResult; last: boolean } | null> {
  const variables = { ...plan.variables, [ENTITY_ID_VARIABLE]: plan.field.entityId(event.payload) };
  const result = await deps.runQuery(plan.query, variables, subscriber.identity, event.eventId);
  const invalid = noLongerValid(result, lastEventId);
  if (invalid) return { value: invalid, last: true };
  const extensions = { ...result.extensions, eventId: event.id };
  if (result.data?.[plan.responseKey] != null) return { value: { ...result, extensions }, last: false };
  // The query applies the same rules as any read: an entity the subscriber may not see is not sent.
  if (!failedForService(result)) return null;
  // An entity missing because a service failed is sent, with its errors: skipping it would be a gap the
  // client cannot see. The subscription field is non-null, so the error nulls the whole data. A client
  // that stops on the error and resumes after lastEventId gets the event again.
  const errors = result.errors?.map((e) => new GraphQLError(e.message, { path: e.path, extensions: { ...e.extensions, lastEventId } }));
  return { value: { data: null, errors, extensions }, last: false };
}

/**
 * One subscription's events as an AsyncIterator of results: replay after `after` (if given),
 * then live events, with no gaps or duplicates between the two. Live events arrive on a bounded
 * queue of this subscriber's own; a subscriber that falls too far behind is ended with
 * SUBSCRIBER_TOO_SLOW (it may resume with `after`), so it never holds up anyone else.
 */
// eslint-disable-next-line max-lines-per-function -- the queue, cursor and resync state shared by the live feed, the resync and pull(); a plain iterator, not an async generator, because graphql-ws's return() must end a pending next() at once
export async function openEventStream(
  plan: PlannedSubscription,
  subscriber: Subscriber,
  deps: EventStreamDeps,
): Promise<AsyncIterableIterator<ExecutionResult>> {
  authorizeSubscription(plan, subscriber);
  const { field } = plan;
  const after = (plan.args.after as string | null | undefined) ?? null;

  const queue: StreamEvent[] = [];
  const waiters: ((r: IteratorResult<ExecutionResult>) => void)[] = [];
  let overflow = false;
  let interrupted = false;
  let done = false;
  let replaying = after !== null;
  let lastId = after ?? '0-0';
  const seen = new Set<string>();

  const visible = visibilityFilter(plan, subscriber);
  const readFrom = (cursor: string, limit = Infinity) => readVisibleAfter(deps, plan, visible, cursor, limit);

  // Hands what is queued to whoever waits in next(). Declared before the live feed opens: an event can
  // arrive while the stream's start is still being read below (once, a `const` declared after that read
  // threw there, in Redis's message handler, and the gateway process exited). Waiters exist only once
  // the iterator is returned, so `pull` is defined by the time this calls it.
  const wake = () => waiters.splice(0).forEach((w) => void pull().then(w));
  // Live first, so nothing published while the replay is read falls between the two.
  const stopLive = await deps.live.subscribe(field.eventType, (event) => {
    if (done || !visible(event)) return;
    if (queue.length >= deps.maxQueue) overflow = true;
    else queue.push(event);
    wake();
  });
  /*
   * Where this subscription's feed starts: `after`, or the stream's newest event when it opened.
   * If the live feed is cut (Redis down, connection lost), what was published meanwhile is read
   * from the stream after the last event delivered (or that start), merged in id order and
   * de-duplicated; if it cannot be read, the subscription ends with SUBSCRIPTION_INTERRUPTED and
   * the id to resume after. Either way no event is skipped without the client knowing.
   */
  let startId: string;
  try {
    startId = after ?? (await deps.bus.lastId(field.stream));
  } catch {
    stopLive();
    // Redis slow or away (the read has a deadline): say so with a code the client can retry on.
    throw serviceUnavailable('Live events are unavailable right now; retry the subscription shortly.');
  }
  const resumePoint = () => (compareStreamIds(lastId, startId) > 0 ? lastId : startId);
  let resyncing = false;
  const recovered = new Set<string>();
  const merge = (missed: StreamEvent[]) => {
    if (queue.length + missed.length > deps.maxQueue) overflow = true;
    else {
      for (const e of missed) recovered.add(e.id);
      queue.push(...missed);
      queue.sort((a, b) => compareStreamIds(a.id, b.id));
    }
  };
  const ended = () => done; // read after an await: a plain `done` would be narrowed to its value before it
  /*
   * Where the replay starts: what had been delivered when the feed was cut, not the resume point
   * when the replay runs. Other clients publish the moment Redis is back, so a live event can come
   * in between the resubscription and its confirmation and be delivered first: reading after it
   * would skip what was missed before it. What the replay brings that was delivered already is
   * dropped by its event id.
   */
  let replayFrom: string | null = null;
  let cuts = 0;
  let resyncAgain = false;
  const resync = async (): Promise<void> => {
    if (done) return;
    // Cut and back again while a replay runs: one more replay after it, from the first cut's point.
    if (resyncing) {
      resyncAgain = true;
      return;
    }
    resyncing = true;
    // The stream is read on another connection than the live feed's, which may reach a new primary a
    // moment later: the read is tried again until the grace ends, and only then does the subscription end.
    const deadline = Date.now() + (deps.resyncGraceMs ?? FEED_CUT_GRACE_MS);
    try {
      for (;;) {
        const cutsBefore = cuts;
        try {
          merge(await readFrom(replayFrom ?? resumePoint(), deps.maxQueue));
          if (cuts === cutsBefore) replayFrom = null;
          return;
        } catch {
          if (ended() || Date.now() >= deadline) {
            interrupted = true;
            return;
          }
          await new Promise((r) => setTimeout(r, RESYNC_RETRY_MS));
        }
      }
    } finally {
      resyncing = false;
      if (resyncAgain && !interrupted) {
        resyncAgain = false;
        void resync();
      }
      wake();
    }
  };
  // A cut that lasts (Redis down or frozen) ends the subscription resumably now, rather than leaving the client waiting in silence.
  let cutTimer: NodeJS.Timeout | undefined;
  const stopCut =
    deps.live.onCut?.(() => {
      cuts += 1;
      replayFrom ??= resumePoint();
      cutTimer ??= setTimeout(() => {
        interrupted = true;
        wake();
      }, FEED_CUT_GRACE_MS);
    }) ?? (() => {});
  const stopResync = deps.live.onResubscribed(() => {
    clearTimeout(cutTimer);
    cutTimer = undefined;
    void resync();
  });
  // A quiet stream must end too: the revocation wakes whoever waits for the next event.
  const onRevoked = () => wake();
  subscriber.revoked?.addEventListener('abort', onRevoked, { once: true });

  eventStreamStats.open += 1;
  let released = false;
  const unsubscribe = () => {
    if (released) return;
    released = true;
    eventStreamStats.open -= 1;
    stopLive();
    stopResync();
    stopCut();
    clearTimeout(cutTimer);
    subscriber.revoked?.removeEventListener('abort', onRevoked);
  };

  if (after !== null) {
    if (await deps.bus.isBeyondRetention(field.stream, after)) {
      unsubscribe();
      throw badInput('after is older than the event retention window: refetch the current state, then subscribe without after.', {
        argument: 'after',
      });
    }
    queue.unshift(...(await readFrom(after)));
    replaying = false;
  }

  const finish = (): IteratorResult<ExecutionResult> => {
    if (!done) {
      done = true;
      unsubscribe();
    }
    return { done: true, value: undefined };
  };

  async function pull(): Promise<IteratorResult<ExecutionResult>> {
    for (;;) {
      if (done) return { done: true, value: undefined };
      // With a replay pending, from where the cut began: a live event delivered since may be later than what was missed.
      if (overflow && !replaying) {
        finish();
        return catchUpError(
          ErrorCode.SUBSCRIBER_TOO_SLOW,
          'Too many undelivered events; resubscribe with after to catch up.',
          replayFrom ?? resumePoint(),
        );
      }
      if (interrupted) {
        finish();
        return catchUpError(
          ErrorCode.SUBSCRIPTION_INTERRUPTED,
          'The event feed was interrupted; resubscribe with after to catch up.',
          replayFrom ?? resumePoint(),
        );
      }
      if (subscriber.revoked?.aborted) {
        finish();
        return { done: false, value: { errors: [unauthenticated('The API key was revoked.')] } };
      }
      if (Date.now() >= subscriber.expiresAt) {
        finish();
        return { done: false, value: { errors: [unauthenticated('The access token expired; reconnect with a fresh one.')] } };
      }
      // A resync is merging the missed events into the queue: wait for it, so they go out in order.
      if (resyncing) return new Promise((resolve) => waiters.push(resolve));
      const event = queue.shift();
      if (!event) return new Promise((resolve) => waiters.push(resolve));
      // Order and de-duplication: the replay and live feeds overlap; a relay retry may repeat an event.
      // A missed event read back after a newer live one got through (between resubscribing and the
      // replay) is late, not a duplicate: it goes out, once (by its eventId).
      const late = recovered.delete(event.id);
      if (seen.has(event.eventId) || (!late && compareStreamIds(event.id, lastId) <= 0)) continue;
      const before = resumePoint();
      if (compareStreamIds(event.id, lastId) > 0) lastId = event.id;
      seen.add(event.eventId);
      if (seen.size > 10_000) seen.clear();
      const delivered = await queryForEvent(deps, plan, subscriber, event, before);
      if (delivered?.last) finish();
      if (delivered) return { done: false, value: delivered.value };
    }
  }

  const iterator: AsyncIterableIterator<ExecutionResult> = {
    next: () => (waiters.length ? new Promise((resolve) => waiters.push(resolve)) : pull()),
    return: async () => {
      const result = finish();
      waiters.splice(0).forEach((w) => w(result));
      return result;
    },
    throw: async (err) => {
      finish();
      throw err;
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
