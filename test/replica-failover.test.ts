import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_PAGE } from './support/operations.js';
import {
  databaseName,
  freezeServer,
  pauseReplay,
  resumeReplay,
  startOwnReplicatedPostgres,
  statementCalls,
  waitForReplay,
} from './support/replication.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/**
 * Replication going wrong, on a primary and standby of this file's own (pausing or stopping the
 * run's shared standby would disturb other files): replay paused (read-your-writes, the lag
 * bound), and the standby stopped or hanging under load (not one failed request).
 */

const MAX_LAG_MS = 3_000;
let pair: Awaited<ReturnType<typeof startOwnReplicatedPostgres>>;
let stack: Stack;
let standby: postgres.Sql;
let customer: TestUser;
let product: { id: string };

beforeAll(async () => {
  pair = await startOwnReplicatedPostgres();
  const lag = { DATABASE_REPLICA_MAX_LAG_MS: String(MAX_LAG_MS) };
  stack = await startStack({
    replica: true,
    postgres: pair.stackOptions,
    // Read routing is about what reaches the subgraphs: the gateway's caches would answer in their place.
    extra: {
      users: lag,
      catalog: lag,
      orders: lag,
      billing: lag,
      gateway: { CONSISTENCY_COOKIE: 'true', ENTITY_CACHE_ENABLED: 'false', RESPONSE_CACHE_ENABLED: 'false' },
    },
  });
  standby = postgres(pair.standbyUrl, { max: 1, onnotice: () => {} });
  [customer, product] = await Promise.all([stack.customer('Ada'), stack.product({ stock: 1000 })]);
  expect((await place()).errors).toBeUndefined();
  await waitForReplay(pair.primary.adminUrl, pair.standbyUrl);
  await eventually(async () => ((await replicaOf('orders')).state === 'up' ? true : undefined));
}, 60_000);
afterAll(async () => {
  await standby?.end();
  await stack?.close();
  await pair?.stop();
});

const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
  id number customer { orders(first: 50) { edges { node { number } } } } } }`;
const place = () =>
  stack.gql(
    PLACE,
    { input: { items: [{ productId: product.id, quantity: 1 }], idempotencyKey: `k-${randomUUID()}` } },
    { token: customer.token },
  );
const orderNumbers = async (headers: Record<string, string> = {}) => {
  const res = await stack.gql(ACCOUNT_PAGE, { n: 50 }, { token: customer.token, headers });
  expect(res.errors).toBeUndefined();
  return res.data!.me!.orders.edges.map((e) => e.node.number);
};
const replicaOf = async (subgraph: 'users' | 'catalog' | 'orders' | 'billing') =>
  (await (await fetch(`${stack.supergraph.urls[subgraph]}/health/ready`)).json()).database.replicas[0];

describe('replication paused', () => {
  it('read-your-writes: with the token (header or cookie) the new order is there; without it the replica serves its stale view', async () => {
    await pauseReplay(standby);
    try {
      const placed = await place();
      expect(placed.errors).toBeUndefined();
      const { number } = placed.data.placeOrder;
      // Within the mutation's own request, the entity fetch after the write read the primary.
      expect(placed.data.placeOrder.customer.orders.edges.map((e: any) => e.node.number)).toContain(number);
      const token = placed.headers.get('x-consistency-token')!;
      const cookie = placed.headers.get('set-cookie')!;
      expect(cookie).toMatch(/^consistency_token=[\w.-]+; Path=\/; Max-Age=300; HttpOnly; SameSite=Lax$/);

      expect(await orderNumbers()).not.toContain(number); // the replica, paused before the order
      expect(await orderNumbers({ 'x-consistency-token': token })).toContain(number);
      expect(await orderNumbers({ cookie: `theme=dark; ${cookie.split(';')[0]}` })).toContain(number);
      expect(await orderNumbers()).not.toContain(number); // still in rotation: within the lag bound

      // Lag bound: paused beyond DATABASE_REPLICA_MAX_LAG_MS, the replica leaves the rotation.
      const lagging = await eventually(async () => {
        const replica = await replicaOf('orders');
        return replica.state === 'lagging' ? replica : undefined;
      });
      expect(lagging.lagMs).toBeGreaterThan(MAX_LAG_MS);
      expect(await orderNumbers()).toContain(number); // now from the primary, token or not
      // Lag belongs to the server (one WAL stream for all its databases): users' copy is as stale.
      await eventually(async () => ((await replicaOf('users')).state === 'lagging' ? true : undefined));
    } finally {
      await resumeReplay(standby);
    }
    await eventually(async () => ((await replicaOf('orders')).state === 'up' ? true : undefined));
  });
});

/** Runs AccountPage requests back to back (two at a time) while `during` runs; every outcome is counted. */
async function underLoad(during: (results: { ok: number }) => Promise<void>) {
  let running = true;
  const results = { ok: 0, failed: [] as unknown[] };
  const load = async () => {
    while (running) {
      const res = await stack
        .gql(ACCOUNT_PAGE, { n: 5 }, { token: customer.token })
        .catch((err: unknown) => ({ status: 0, errors: [String(err)] }));
      if (res.status === 200 && !res.errors) results.ok += 1;
      else results.failed.push(res.errors);
    }
  };
  const workers = [load(), load()];
  try {
    await eventually(async () => (results.ok >= 20 ? true : undefined));
    await during(results);
  } finally {
    running = false;
    await Promise.all(workers);
  }
  return results;
}

const stateOf = (subgraph: 'orders', state: string) =>
  eventually(async () => {
    const replica = await replicaOf(subgraph);
    return replica.state === state ? replica : undefined;
  });
const moreRequests = async (results: { ok: number }, n: number) => {
  const from = results.ok;
  await eventually(async () => (results.ok >= from + n ? true : undefined));
};

describe('standby stopped, or hanging', () => {
  it('serves every request while the standby is down (from the primary) and sends reads back once it is up', async () => {
    const ordersDb = databaseName(stack.databaseUrls.orders);
    const standbyReads = async () => {
      const s = postgres(pair.standbyUrl, { max: 1, onnotice: () => {} });
      return statementCalls(s, ordersDb, 'select%').finally(() => s.end());
    };
    await standby.end();
    const results = await underLoad(async (progress) => {
      await pair.standby!.stop(); // fast shutdown: connections in use are cut
      expect((await stateOf('orders', 'down')).error).toBeTruthy();
      await moreRequests(progress, 20);
      await pair.standby!.start();
      await stateOf('orders', 'up');
      const back = await standbyReads();
      await eventually(async () => ((await standbyReads()) >= back + 10 ? true : undefined));
    }).finally(() => (standby = postgres(pair.standbyUrl, { max: 1, onnotice: () => {} })));
    expect(results.failed).toEqual([]);
    expect(results.ok).toBeGreaterThan(40);
  });

  it('moves reads waiting on a standby that stopped answering (SIGSTOP) to the primary once a poll times out', async () => {
    const results = await underLoad(async (progress) => {
      const frozen = freezeServer(pair.standbySpec.dataDir);
      try {
        const down = await stateOf('orders', 'down');
        expect(down.error).toMatch(/no answer within/);
        await moreRequests(progress, 20);
      } finally {
        frozen.thaw();
      }
      await stateOf('orders', 'up');
    });
    expect(results.failed).toEqual([]);
  });
});
