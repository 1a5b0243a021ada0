import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildSchema, parse } from 'graphql';
import { planSubscription } from '../../gateway/subscriptions/event-query.js';
import { openEventStream } from '../../gateway/subscriptions/event-stream.js';
import { createLiveEvents } from '../../gateway/subscriptions/live-events.js';
import { readSubscriptionFields } from '../../gateway/subscriptions/fields.js';
import { createSupergraph } from '../../gateway/supergraph.js';
import { SUPERGRAPH_FILE } from '../../scripts/compose-supergraph.js';
import { createEventBus } from '../../platform/events/index.js';
import { createLogger } from '../../platform/logger.js';
import type { StreamName } from '../../platform/events/types.js';

/**
 * The per-subscriber queue on the embedded bus (no network involved): a subscriber that stops
 * pulling is cut off at its bound, and another subscriber of the same events is not held up.
 */
const schema = buildSchema(`
  type Product { id: ID! stock: Int! }
  type Query { product(id: ID!): Product }
  type Subscription { stockChanged(productId: ID!, after: String): Product! }
`);
// The field as catalog's SDL declares it (@event), read from the committed supergraph.
const fields = readSubscriptionFields(createSupergraph(readFileSync(SUPERGRAPH_FILE, 'utf8')));

/** An embedded bus and live feed of their own, a stockChanged plan for one product, and that product's events. */
function embeddedStockStream() {
  const config = { EVENT_NAMESPACE: `unit-${randomUUID()}:`, EVENT_RETENTION_HOURS: 1, EVENT_CLAIM_IDLE_MS: 1000 };
  const log = createLogger('test', 'silent');
  const productId = randomUUID();
  const plan = planSubscription(fields, schema, parse(`subscription($p: ID!) { stockChanged(productId: $p) { id stock } }`), undefined, {
    p: productId,
  });
  const event = () => ({
    eventId: randomUUID(),
    type: 'StockChanged' as const,
    payload: { productId, stock: 1, priceCents: 1 },
    occurredAt: new Date().toISOString(),
  });
  const runQuery = async (_q: string, vars: Record<string, unknown>) => ({
    data: { stockChanged: { id: vars.__eventEntityId, stock: 1 } },
  });
  const subscriber = { identity: { userId: null, role: null, scopes: [] }, expiresAt: Number.POSITIVE_INFINITY };
  return { bus: createEventBus(config, log), live: createLiveEvents(config, log), plan, event, runQuery, subscriber };
}

describe('event streams', () => {
  it('cut off a subscriber that falls behind without delaying the others', async () => {
    const { bus, live, plan, event, runQuery, subscriber } = embeddedStockStream();
    expect(plan.query).toContain('stockChanged: product(id: $__eventEntityId)');
    const deps = { bus, live, maxQueue: 3, replayPageSize: 100, runQuery };
    const slow = await openEventStream(plan, subscriber, deps);
    const fast = await openEventStream(plan, subscriber, deps);
    for (let i = 0; i < 10; i++) {
      await bus.append('catalog', [event()]);
      // The fast subscriber gets every event as it comes.
      const next = await fast.next();
      expect(next.value.extensions.eventId).toMatch(/^\d+-\d+$/);
    }
    // The slow one never pulled past its bound: it is told at once, then ended (it resumes with `after`
    // from the last event it did receive, and the replay gives it everything since).
    const cutOff = await slow.next();
    expect(cutOff.value.errors[0].extensions.code).toBe('SUBSCRIBER_TOO_SLOW');
    expect((await slow.next()).done).toBe(true);
    await fast.return!();
  });
});

describe('an event that arrives while a subscription opens', () => {
  it('is queued, not thrown in the live feed (the stream start is read after the feed opens)', async () => {
    const { bus, live, plan, event, runQuery, subscriber } = embeddedStockStream();
    // The stream's start is read after the live feed opened; an event published in between reaches the feed first.
    const openingBus = {
      ...bus,
      lastId: async (stream: StreamName) => {
        await bus.append('catalog', [event()]);
        return bus.lastId(stream);
      },
    };
    const deps = { bus: openingBus, live, maxQueue: 10, replayPageSize: 100, runQuery };
    const stream = await openEventStream(plan, subscriber, deps);
    await bus.append('catalog', [event()]);
    const next = await stream.next();
    expect(next.value.extensions.eventId).toMatch(/^\d+-\d+$/);
    await stream.return!();
  });
});

describe('event streams across a cut live feed', () => {
  const setup = () => {
    const config = { EVENT_NAMESPACE: `unit-${randomUUID()}:`, EVENT_RETENTION_HOURS: 1, EVENT_CLAIM_IDLE_MS: 1000 };
    const log = createLogger('test', 'silent');
    const bus = createEventBus(config, log);
    const real = createLiveEvents(config, log);
    // The embedded feed with a switch: while cut, live events are lost (as pub/sub loses them while Redis is away).
    let cut = false;
    const resubscribed = new Set<() => void>();
    const cutListeners = new Set<() => void>();
    const live = {
      subscribe: (type: Parameters<typeof real.subscribe>[0], onEvent: Parameters<typeof real.subscribe>[1]) =>
        real.subscribe(type, (e) => !cut && onEvent(e)),
      onResubscribed: (l: () => void) => (resubscribed.add(l), () => void resubscribed.delete(l)),
      onCut: (l: () => void) => (cutListeners.add(l), () => void cutListeners.delete(l)),
      close: () => real.close(),
    };
    const productId = randomUUID();
    const plan = planSubscription(fields, schema, parse(`subscription($p: ID!) { stockChanged(productId: $p) { id stock } }`), undefined, {
      p: productId,
    });
    // Reads that fail: all of them (true), or this many more.
    let readFails: boolean | number = false;
    const deps = {
      bus: {
        ...bus,
        readAfter: (...args: Parameters<typeof bus.readAfter>) => {
          if (typeof readFails === 'number' && readFails > 0) readFails -= 1;
          else if (readFails !== true) return bus.readAfter(...args);
          return Promise.reject(new Error('Redis is down'));
        },
      },
      live,
      maxQueue: 100,
      replayPageSize: 2,
      resyncGraceMs: 1_000,
      runQuery: async (_q: string, vars: Record<string, unknown>) => ({ data: { stockChanged: { id: vars.__eventEntityId, stock: 1 } } }),
    };
    const event = () => ({
      eventId: randomUUID(),
      type: 'StockChanged' as const,
      payload: { productId, stock: 1, priceCents: 1 },
      occurredAt: new Date().toISOString(),
    });
    const subscriber = { identity: { userId: null, role: null, scopes: [] }, expiresAt: Number.POSITIVE_INFINITY };
    return {
      bus,
      plan,
      deps,
      event,
      subscriber,
      setCut: (v: boolean) => {
        if (v && !cut) cutListeners.forEach((l) => l());
        cut = v;
      },
      setReadFails: (v: boolean | number) => (readFails = v),
      resubscribe: () => resubscribed.forEach((l) => l()),
    };
  };

  it('replays from the stream, in order and once each, what was published while the feed was cut', async () => {
    const t = setup();
    const stream = await openEventStream(t.plan, t.subscriber, t.deps);
    const ids = [...(await t.bus.append('catalog', [t.event()]))];
    expect((await stream.next()).value.extensions.eventId).toBe(ids[0]);
    t.setCut(true);
    ids.push(...(await t.bus.append('catalog', [t.event(), t.event(), t.event()])));
    t.setCut(false);
    ids.push(...(await t.bus.append('catalog', [t.event()]))); // live again before the replay runs
    t.resubscribe();
    const got: string[] = [ids[0]!];
    for (let i = 0; i < 4; i++) got.push((await stream.next()).value.extensions.eventId);
    expect(got).toEqual(ids);
    await stream.return!();
  });

  it('sends an event whose query failed for a service, with its errors, and leaves out only an entity the caller may not see', async () => {
    const t = setup();
    const answers = [
      { data: { stockChanged: null }, errors: [{ message: 'no', extensions: { code: 'FORBIDDEN' } }] },
      {
        data: { stockChanged: null },
        errors: [{ message: 'catalog down', extensions: { code: 'SUBREQUEST_HTTP_ERROR', service: 'catalog' } }],
      },
      { data: { stockChanged: { id: 'p', stock: 1 } } },
    ];
    const runQuery = async () => answers.shift() as never;
    const stream = await openEventStream(t.plan, t.subscriber, { ...t.deps, runQuery });
    const ids = await t.bus.append('catalog', [t.event(), t.event(), t.event()]);
    const failed = (await stream.next()).value;
    expect(failed.extensions.eventId).toBe(ids[1]);
    expect(failed.errors[0].extensions.code).toBe('SUBREQUEST_HTTP_ERROR');
    expect(failed.data).toBeNull(); // the subscription field is non-null
    expect(failed.errors[0].extensions).toMatchObject({ service: 'catalog', lastEventId: ids[0] }); // resuming there brings it again
    expect((await stream.next()).value.extensions.eventId).toBe(ids[2]);
    await stream.return!();
  });

  it('replays from where the cut began, even when a live event got through before the replay ran', async () => {
    const t = setup();
    const stream = await openEventStream(t.plan, t.subscriber, t.deps);
    const [e0] = await t.bus.append('catalog', [t.event()]);
    expect((await stream.next()).value.extensions.eventId).toBe(e0);
    t.setCut(true);
    const [missed] = await t.bus.append('catalog', [t.event()]);
    t.setCut(false);
    // Published the moment Redis is back: delivered before the resubscription is confirmed.
    const [newer] = await t.bus.append('catalog', [t.event()]);
    expect((await stream.next()).value.extensions.eventId).toBe(newer);
    t.resubscribe();
    const late = await Promise.race([stream.next(), new Promise<null>((r) => setTimeout(() => r(null), 2_000))]);
    expect(late?.value.extensions.eventId).toBe(missed);
    await stream.return!();
  });

  it('a feed cut again while a replay is reading gets a replay of its own afterwards', async () => {
    const t = setup();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const bus = {
      ...t.deps.bus,
      // The first replay reads the stream as it is now, and answers only when released.
      readAfter: (...args: Parameters<typeof t.bus.readAfter>) => {
        calls += 1;
        const read = t.deps.bus.readAfter(...args);
        return calls === 1 ? gate.then(() => read) : read;
      },
    };
    const stream = await openEventStream(t.plan, t.subscriber, { ...t.deps, bus });
    const [e0] = await t.bus.append('catalog', [t.event()]);
    expect((await stream.next()).value.extensions.eventId).toBe(e0);
    t.setCut(true);
    const [first] = await t.bus.append('catalog', [t.event()]);
    t.setCut(false);
    t.resubscribe();
    t.setCut(true);
    const [second] = await t.bus.append('catalog', [t.event()]); // after the first replay's read
    t.setCut(false);
    t.resubscribe();
    release();
    const next = () => Promise.race([stream.next(), new Promise<null>((r) => setTimeout(() => r(null), 2_000))]);
    expect((await next())?.value.extensions.eventId).toBe(first);
    expect((await next())?.value.extensions.eventId).toBe(second);
    await stream.return!();
  });

  it('a replay that cannot be read ends with the id where the cut began, not a later live one', async () => {
    const t = setup();
    const stream = await openEventStream(t.plan, t.subscriber, t.deps);
    const [e0] = await t.bus.append('catalog', [t.event()]);
    expect((await stream.next()).value.extensions.eventId).toBe(e0);
    t.setCut(true);
    await t.bus.append('catalog', [t.event()]); // missed
    t.setCut(false);
    const [newer] = await t.bus.append('catalog', [t.event()]);
    expect((await stream.next()).value.extensions.eventId).toBe(newer);
    t.setReadFails(true);
    t.resubscribe();
    const ended = await stream.next();
    // Resuming after e0 brings the missed event (and newer again); after newer would skip it.
    expect(ended.value.errors[0].extensions).toMatchObject({ code: 'SUBSCRIPTION_INTERRUPTED', lastEventId: e0 });
  });

  it('tries the replay again while the stream is still out of reach (its own connection may come back later), then sends the gap', async () => {
    const t = setup();
    const stream = await openEventStream(t.plan, t.subscriber, t.deps);
    const ids = [...(await t.bus.append('catalog', [t.event()]))];
    expect((await stream.next()).value.extensions.eventId).toBe(ids[0]);
    t.setCut(true);
    ids.push(...(await t.bus.append('catalog', [t.event(), t.event()])));
    t.setCut(false);
    t.setReadFails(2); // the first two reads fail, 250 ms apart: well within the grace
    t.resubscribe();
    expect((await stream.next()).value.extensions.eventId).toBe(ids[1]);
    expect((await stream.next()).value.extensions.eventId).toBe(ids[2]);
    await stream.return!();
  });

  it('ends with SUBSCRIPTION_INTERRUPTED and the id to resume after when the gap cannot be read', async () => {
    const t = setup();
    const stream = await openEventStream(t.plan, t.subscriber, t.deps);
    const [first] = await t.bus.append('catalog', [t.event()]);
    expect((await stream.next()).value.extensions.eventId).toBe(first);
    t.setCut(true);
    await t.bus.append('catalog', [t.event()]);
    t.setReadFails(true);
    t.resubscribe();
    const ended = await stream.next();
    expect(ended.value.errors[0].extensions).toMatchObject({ code: 'SUBSCRIPTION_INTERRUPTED', lastEventId: first });
    expect((await stream.next()).done).toBe(true);
  });
});
