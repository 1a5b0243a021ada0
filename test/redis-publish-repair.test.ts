import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster } from './support/cluster.js';
import type { Cluster } from './support/cluster.js';
import { eventually } from './support/stack.js';
import type { TestUser } from './support/stack.js';
import { wsClient } from './support/ws-client.js';
import type { TestWsClient } from './support/ws-client.js';

/**
 * Issue 19: a live announcement (PUBLISH) that fails after its event was appended (XADD) is not
 * lost silently. Fault: Redis refuses PUBLISH (an ACL rule on the services' user) while XADD still
 * works, so the outbox row is published to the stream but not announced. Invariant: the subscriber
 * still receives that event (with its stream id) once Redis takes PUBLISH again, and the producer
 * counts the failure in `events_live_publish_failures_total`.
 */
let cluster: Cluster;
let admin: TestUser;
let productId: string;
let client: TestWsClient;

beforeAll(async () => {
  cluster = await startCluster({ logLevel: 'warn' });
  admin = await cluster.admin();
  productId = (await cluster.product({ stock: 1_000 })).id;
  await cluster.redisClient.connect();
}, 400_000);
afterAll(async () => {
  await client?.dispose();
  await cluster?.redisClient.call('ACL', 'SETUSER', 'default', '+publish').catch(() => undefined);
  await cluster?.close();
}, 60_000);

const failures = async () => {
  const text = await (await fetch(`${cluster.metricsUrl('catalog')}/metrics`)).text();
  return Number(/^events_live_publish_failures_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
};

describe('a live publish that fails after its append (issue 19)', () => {
  it('the subscriber still gets the event once Redis takes PUBLISH again, and the failure is counted', async () => {
    client = wsClient(cluster.url);
    const sub = client.subscribe(`subscription { stockChanged(productId: "${productId}") { id stock } }`);
    // The subscription is live once a change made now reaches it.
    await eventually(
      async () => {
        await cluster.gql('mutation($p: ID!) { adjustStock(productId: $p, delta: 1) { stock } }', { p: productId }, { token: admin.token });
        return sub.results.some((r) => r.data) ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(sub.results.filter((r) => r.errors)).toEqual([]);
    const seenBefore = sub.results.length;
    const failedBefore = await failures();

    await cluster.redisClient.call('ACL', 'SETUSER', 'default', '-publish');
    const res = await cluster.gql(
      'mutation($p: ID!) { adjustStock(productId: $p, delta: 5) { stock } }',
      { p: productId },
      { token: admin.token },
    );
    expect(res.errors).toBeUndefined();
    const stock = (res.data as { adjustStock: { stock: number } }).adjustStock.stock;
    // Appended: the outbox row has its stream id; announced: not yet (the failure is counted).
    const streamId = await eventually(
      async () => {
        const [row] = await cluster.sql.catalog<{ stream_id: string | null }[]>`select stream_id from outbox
          where type = 'StockChanged' and payload->>'productId' = ${productId} and (payload->>'stock')::int = ${stock}`;
        return row?.stream_id ?? undefined;
      },
      { timeoutMs: 30_000 },
    );
    await eventually(async () => ((await failures()) > failedBefore ? true : undefined), { timeoutMs: 30_000 });
    expect(sub.results.slice(seenBefore).some((r) => r.extensions?.eventId === streamId)).toBe(false);

    // The fault ends: the waiting announcement goes out, and the subscriber gets that very event.
    await cluster.redisClient.call('ACL', 'SETUSER', 'default', '+publish');
    const delivered = await eventually(async () => sub.results.find((r) => r.extensions?.eventId === streamId), { timeoutMs: 30_000 });
    console.log(
      `[redis-publish-repair] event ${streamId} delivered after the publish fault; failures counted: ${(await failures()) - failedBefore}`,
    );
    expect((delivered.data as { stockChanged: { stock: number } }).stockChanged.stock).toBe(stock);
  }, 120_000);
});
