import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT_PAGE, PLACE_ORDER } from './support/operations.js';
import { databaseName, startOwnReplicatedPostgres, statementCalls, waitForReplay } from './support/replication.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/**
 * Read replicas on real streaming replication (a primary and hot standby of this file's own).
 * Which server ran what is counted by the servers themselves (pg_stat_statements), not by the
 * application. Replication going wrong is test/replica-failover.test.ts.
 */

let pair: Awaited<ReturnType<typeof startOwnReplicatedPostgres>>;
let stack: Stack;
let customer: TestUser;
let product: { id: string };
let primary: postgres.Sql;
let standby: postgres.Sql;
let adminUrl: string;
let standbyUrl: string;

const place = (headers?: Record<string, string>) =>
  stack.gql(
    PLACE_ORDER,
    { input: { items: [{ productId: product.id, quantity: 1 }], idempotencyKey: `k-${randomUUID()}` } },
    { token: customer.token, ...(headers ? { headers } : {}) },
  );

const counts = async (server: postgres.Sql, subgraph: keyof Stack['databaseUrls'], pattern?: string) =>
  statementCalls(server, databaseName(stack.databaseUrls[subgraph]), pattern);

async function replicasUp(s: Stack) {
  await eventually(async () => {
    for (const name of ['users', 'catalog', 'orders', 'billing'] as const) {
      const health = await (await fetch(`${s.supergraph.urls[name]}/health/ready`)).json();
      if (health.database.replicas[0]?.state !== 'up') return undefined;
    }
    return true;
  });
}

beforeAll(async () => {
  pair = await startOwnReplicatedPostgres();
  ({ adminUrl, standbyUrl } = pair.stackOptions);
  // Reads are counted per database here: no cache may answer in their place (gateway/cache/).
  stack = await startStack({
    replica: true,
    postgres: pair.stackOptions,
    extra: { gateway: { RESPONSE_CACHE_ENABLED: 'false', ENTITY_CACHE_ENABLED: 'false' } },
  });
  primary = postgres(adminUrl, { max: 1, onnotice: () => {} });
  standby = postgres(standbyUrl, { max: 1, onnotice: () => {} });
  [customer, product] = await Promise.all([stack.customer('Ada'), stack.product({ stock: 1000 })]);
  expect((await place()).errors).toBeUndefined();
  await replicasUp(stack);
});
afterAll(async () => {
  await Promise.all([primary?.end(), standby?.end()]);
  await stack?.close();
  await pair?.stop();
});

describe('read replicas', () => {
  it('every subgraph reports its replica in /health/ready, with its replay position and lag', async () => {
    const health = await (await fetch(`${stack.supergraph.urls.orders}/health/ready`)).json();
    expect(health.status).toBe('ready');
    expect(health.database.primary).toBe(true);
    expect(health.database.replicas).toEqual([
      {
        name: expect.stringMatching(/^127\.0\.0\.1:\d+\/t_\w+_orders$/),
        state: 'up',
        lagMs: expect.any(Number),
        replayLsn: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/),
      },
    ]);
    expect(JSON.stringify(health)).not.toContain('postgres:postgres'); // no credentials
  });

  it('queries read from the replica and not the primary; mutations and their reads run on the primary', async () => {
    await waitForReplay(adminUrl, standbyUrl);
    const subgraphs = ['users', 'orders', 'catalog', 'billing'] as const;
    const snapshot = () =>
      Promise.all(
        subgraphs.map(async (s) => ({ primary: await counts(primary, s, 'select%'), standby: await counts(standby, s, 'select%') })),
      );
    const before = await snapshot();
    const pagesBefore = await counts(primary, 'orders', '%row_number()%');
    for (let i = 0; i < 5; i++) {
      const res = await stack.gql(ACCOUNT_PAGE, { n: 5 }, { token: customer.token });
      expect(res.errors).toBeUndefined();
      expect(res.data?.me?.orders.edges).toHaveLength(1);
    }
    const after = await snapshot();
    const reads = subgraphs.map((name, i) => ({
      name,
      primary: after[i]!.primary - before[i]!.primary,
      standby: after[i]!.standby - before[i]!.standby,
    }));
    // Every subgraph served its part of 5 AccountPages from the standby.
    for (const r of reads) expect(r.standby, r.name).toBeGreaterThanOrEqual(5);
    // users has no background work at all: its primary saw not one read. (The others' primaries
    // run their outbox relays and event consumers, so only request-only statements are counted.)
    expect(reads[0]!.primary).toBe(0);
    // The windowed "newest orders per customer" page is request traffic only: none on the primary.
    expect(await counts(primary, 'orders', '%row_number()%')).toBe(pagesBefore);

    const standbyBefore = await counts(standby, 'orders');
    const insertsBefore = await counts(primary, 'orders', 'insert into "orders"%');
    for (let i = 0; i < 3; i++) expect((await place()).errors).toBeUndefined();
    expect(await counts(primary, 'orders', 'insert into "orders"%')).toBe(insertsBefore + 3);
    // Not one statement of those mutations (their reads included) reached the standby.
    expect(await counts(standby, 'orders')).toBe(standbyBefore);
  });

  it('a mutation returns a consistency token naming every database it wrote; queries return none', async () => {
    const placed = await place();
    expect(placed.errors).toBeUndefined();
    const token = placed.headers.get('x-consistency-token')!;
    // `<base64url JSON>.<HMAC>`: the body is readable, only the gateway can sign it.
    expect(token).toMatch(/^[\w-]+\.[\w-]{43}$/);
    const decoded = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8'));
    // orders wrote the order; catalog, called by orders to reserve stock, wrote the reservation.
    expect(Object.keys(decoded).sort()).toEqual(['catalog', 'orders']);
    expect(decoded.orders).toEqual([expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/), expect.any(Number)]);
    expect(placed.headers.get('set-cookie')).toBeNull(); // cookies are opt-in (CONSISTENCY_COOKIE)

    const read = await stack.gql(ACCOUNT_PAGE, { n: 5 }, { token: customer.token, headers: { 'x-consistency-token': token } });
    expect(read.errors).toBeUndefined();
    expect(read.headers.get('x-consistency-token')).toBeNull();
    expect(read.data!.me!.orders.edges.map((e) => e.node.number)).toContain(placed.data!.placeOrder.number);

    // A second write merges into the token the client sent.
    const again = await place({ 'x-consistency-token': token });
    const merged = JSON.parse(Buffer.from(again.headers.get('x-consistency-token')!.split('.')[0]!, 'base64url').toString('utf8'));
    expect(Object.keys(merged).sort()).toEqual(['catalog', 'orders']);
  });

  it('ignores garbage, oversized and expired tokens (reads are served normally)', async () => {
    const stale = Buffer.from(JSON.stringify({ orders: ['FFFFFFFF/0', 1] })).toString('base64url');
    for (const token of ['not a token', '%%%', 'x'.repeat(10_000), Buffer.from('[1,2]').toString('base64url'), stale]) {
      const res = await stack.gql(ACCOUNT_PAGE, { n: 1 }, { token: customer.token, headers: { 'x-consistency-token': token } });
      expect(res.status).toBe(200);
      expect(res.errors).toBeUndefined();
    }
  });
});
