import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildSchema, parse } from 'graphql';
import { planSubscription } from '../gateway/subscriptions/event-query.js';
import { openEventStream } from '../gateway/subscriptions/event-stream.js';
import { createLiveEvents } from '../gateway/subscriptions/live-events.js';
import { createEventBus } from '../platform/events/index.js';
import { createLogger } from '../platform/logger.js';

/**
 * The per-subscriber queue on the embedded bus (no network involved): a subscriber that stops
 * pulling is cut off at its bound, and another subscriber of the same events is not held up.
 */
const schema = buildSchema(`
  type Product { id: ID! stock: Int! }
  type Query { product(id: ID!): Product }
  type Subscription { stockChanged(productId: ID!, after: String): Product! }
`);

describe('event streams', () => {
  it('cut off a subscriber that falls behind without delaying the others', async () => {
    const config = { EVENT_NAMESPACE: `unit-${randomUUID()}:`, EVENT_RETENTION_HOURS: 1, EVENT_CLAIM_IDLE_MS: 1000 };
    const log = createLogger('test', 'silent');
    const bus = createEventBus(config, log);
    const live = createLiveEvents(config, log);
    const productId = randomUUID();
    const plan = planSubscription(schema, parse(`subscription($p: ID!) { stockChanged(productId: $p) { id stock } }`), undefined, { p: productId });
    expect(plan.query).toContain('stockChanged: product(id: $__eventEntityId)');
    const deps = {
      bus,
      live,
      maxQueue: 3,
      replayPageSize: 100,
      runQuery: async (_q: string, vars: Record<string, unknown>) => ({ data: { stockChanged: { id: vars.__eventEntityId, stock: 1 } } }),
    };
    const subscriber = { identity: { userId: null, role: null, scopes: [] }, expiresAt: Number.POSITIVE_INFINITY };
    const slow = await openEventStream(plan, subscriber, deps);
    const fast = await openEventStream(plan, subscriber, deps);
    const event = () => ({ eventId: randomUUID(), type: 'StockChanged' as const, payload: { productId, stock: 1, priceCents: 1 }, occurredAt: new Date().toISOString() });
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
