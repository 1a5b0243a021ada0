import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventStreamStats } from '../gateway/subscriptions/event-stream.js';
import { compareStreamIds } from '../platform/events/types.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';
import { wsClient } from './support/ws-client.js';
import type { TestSubscription, TestWsClient } from './support/ws-client.js';

/**
 * Redis stopped for 10 s under a steady flow of events: every open subscriber gets every event, or
 * is ended with a resumable error (SUBSCRIPTION_INTERRUPTED / SUBSCRIBER_TOO_SLOW carrying
 * `lastEventId`) after receiving everything up to that id. None misses an event silently.
 *
 * In-process services on the stack's own Redis server (`bus: 'own-redis'`, append-only, killed with
 * SIGKILL and started again on the same port): the gateway's pub/sub connection, the relay and the
 * consumers all lose Redis together, as with separate processes. Two gateways, so two independent
 * pub/sub connections race the relay's backlog after the outage.
 */

let stack: Stack;
let admin: TestUser;
let productId: string;
const clients: TestWsClient[] = [];

beforeAll(async () => {
  stack = await startStack({ bus: 'own-redis' });
  admin = await stack.admin();
  productId = (await stack.product({ stock: 1_000_000 })).id;
}, 120_000);
afterAll(async () => {
  await Promise.all(clients.map((c) => c.dispose()));
  await stack?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RESUMABLE = new Set(['SUBSCRIPTION_INTERRUPTED', 'SUBSCRIBER_TOO_SLOW']);

/** StockChanged ids of our product in the catalog stream, after `afterId`. */
async function streamIds(redis: Redis, afterId: string): Promise<string[]> {
  const entries = (await redis.xrange(`${stack.eventNamespace}events:catalog`, `(${afterId}`, '+')) as [string, string[]][];
  return entries
    .filter(([, fields]) => {
      const event = JSON.parse(fields[1] ?? '{}') as { type?: string; payload?: { productId?: string } };
      return event.type === 'StockChanged' && event.payload?.productId === productId;
    })
    .map(([id]) => id);
}

describe('subscriptions across a Redis outage', () => {
  it('Redis stopped 10 s under a steady event flow: every subscriber gets every event or a resumable error', async () => {
    const gatewayB = await stack.extraGateway();
    const query = `subscription { stockChanged(productId: "${productId}") { id stock } }`;
    const base = eventStreamStats.open;
    const subs: TestSubscription[] = [];
    for (const url of [stack.url, gatewayB.url]) {
      for (let i = 0; i < 2; i++) {
        const c = wsClient(url);
        clients.push(c);
        subs.push(c.subscribe(query));
      }
    }
    await eventually(async () => (eventStreamStats.open >= base + subs.length ? true : undefined));
    const redis = new Redis(stack.redisUrl!, { maxRetriesPerRequest: null });
    redis.on('error', () => {});
    const [last] = (await redis.xrevrange(`${stack.eventNamespace}events:catalog`, '+', '-', 'COUNT', 1)) as unknown as [string][];
    const startId = last?.[0] ?? '0-0';

    // The flow: one stock change every 100 ms for 24 s; Redis is down from 5 s to 15 s.
    let flowing = true;
    let committed = 0;
    const flow = (async () => {
      while (flowing) {
        const res = await stack
          .gql('mutation($p: ID!) { adjustStock(productId: $p, delta: 1) { stock } }', { p: productId }, { token: admin.token })
          .catch(() => null);
        if (res?.data?.adjustStock) committed += 1;
        await sleep(100);
      }
    })();
    await sleep(5_000);
    await stack.ownRedis!.stop();
    await sleep(10_000);
    await stack.ownRedis!.restart();
    await sleep(9_000);
    flowing = false;
    await flow;

    // Every committed change reaches the stream (the outbox relay catches up after the outage).
    const expected = await eventually(
      async () => {
        const [row] = await stack.sql.catalog`select count(*)::int as n from outbox where published_at is null`;
        return row!.n === 0 ? streamIds(redis, startId) : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(expected.length).toBeGreaterThanOrEqual(committed);

    // Each subscriber: all of them delivered, or ended resumably with everything up to its lastEventId.
    const verdicts = await eventually(
      async () => {
        const out = subs.map((sub) => {
          const delivered = new Set(sub.results.map((r) => r.extensions?.eventId).filter(Boolean));
          const ending = sub.results.find((r) => r.errors?.length && !r.extensions?.eventId);
          const code = ending?.errors?.[0]?.extensions?.code as string | undefined;
          const lastEventId = ending?.errors?.[0]?.extensions?.lastEventId as string | undefined;
          const owed =
            code && RESUMABLE.has(code) && lastEventId ? expected.filter((id) => compareStreamIds(id, lastEventId) <= 0) : expected;
          const missing = owed.filter((id) => !delivered.has(id));
          return { delivered: delivered.size, ended: code ?? null, missing: missing.length };
        });
        return out.every((v) => v.missing === 0) ? out : undefined;
      },
      { timeoutMs: 30_000 },
    ).catch(() =>
      subs.map((sub) => {
        const delivered = new Set(sub.results.map((r) => r.extensions?.eventId));
        return {
          delivered: delivered.size,
          ended:
            (sub.results.find((r) => r.errors?.length && !r.extensions?.eventId)?.errors?.[0]?.extensions?.code as string | undefined) ??
            null,
          missing: expected.filter((id) => !delivered.has(id)).length,
        };
      }),
    );
    console.log(
      `[subscription-recovery] ${committed} stock changes committed, ${expected.length} events in the stream; per subscriber: ${JSON.stringify(verdicts)}`,
    );
    redis.disconnect();
    for (const v of verdicts) {
      expect(v.ended === null || RESUMABLE.has(v.ended)).toBe(true);
      expect(v.missing).toBe(0);
    }
  }, 150_000);
});
