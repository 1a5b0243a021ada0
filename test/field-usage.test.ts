import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT } from '../scripts/compose-supergraph.js';
import { createRedisUsageStore } from '../gateway/usage/index.js';
import type { UsageEntry, UsageStore } from '../gateway/usage/index.js';
import { coordinateUsage, formatUsageTable } from '../scripts/schema-usage.js';
import { createGatewayTester } from './support/gateway-tester.js';
import type { GatewayTester } from './support/gateway-tester.js';
import { eventually } from './support/stack.js';

/**
 * Field usage through real gateways on the run's real Redis: two gateways count the same client's
 * requests together, a gateway stopped gracefully writes its last batch, and what was recorded
 * survives the gateways' restart (it lives in Redis, read by `npm run schema:usage`).
 */
const run = promisify(execFile);
// A subgraph SDL (federation directives): plain text, not a document the linter checks against the API schema.
const SHOP = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
  type Query {
    product(id: ID!): Product
  }
  type Product @key(fields: "id") {
    id: ID!
    name: String!
    price: Int!
  }
`;
const PRICE = 'query ProductPrice { product(id: "p1") { id price } }';
const MOBILE = { 'apollographql-client-name': 'ios-app', 'apollographql-client-version': '5.2.0' };

let redis: Redis;
let store: UsageStore;
let namespace: string;
const gateways: GatewayTester[] = [];

const startGateway = async (env: Record<string, string> = {}) => {
  const gateway = await createGatewayTester({
    subgraphs: {
      shop: {
        typeDefs: SHOP,
        resolvers: { Query: { product: (_: unknown, { id }: { id: string }) => ({ id, name: 'Lamp', price: 1999 }) } },
      },
    },
    env: { REDIS_URL: inject('redis').url, EVENT_NAMESPACE: namespace, USAGE_FLUSH_MS: '200', ...env },
  });
  gateways.push(gateway);
  return gateway;
};

async function send(gateway: GatewayTester, times: number) {
  for (let i = 0; i < times; i++) {
    const res = await gateway.post({ query: PRICE }, MOBILE);
    expect(res.body).toEqual({ data: { product: { id: 'p1', price: 1999 } } });
  }
}

/** ios-app 5.2.0's use of Product.price in ProductPrice, as the usage command reads it. */
const priceUse = async (): Promise<UsageEntry | undefined> =>
  (await coordinateUsage(store, ['Product.price'], 30)).find(
    (e) => e.client === 'ios-app' && e.version === '5.2.0' && e.operation === 'ProductPrice',
  );
const countReaches = (count: number) =>
  eventually(async () => ((await priceUse())?.count === count ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });

beforeAll(() => {
  namespace = `usage-${randomUUID().slice(0, 8)}:`;
  redis = new Redis(inject('redis').url);
  store = createRedisUsageStore(redis, `${namespace}usage:`, 35);
});
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.close().catch(() => undefined)));
  await redis?.quit();
});

describe('field usage', () => {
  it('counts requests from two gateways together, in Redis, per client, version and operation', async () => {
    const [a, b] = await Promise.all([startGateway(), startGateway()]);
    await send(a, 3);
    await send(b, 2);
    await countReaches(5);
    const uses = await coordinateUsage(store, ['Query.product(id:)', 'Product', 'Product.name'], 30);
    expect(uses.map((u) => u.coordinate).sort()).toEqual(['Product', 'Query.product(id:)']);
    expect(formatUsageTable(await coordinateUsage(store, ['Product.price'], 30), 30)).toMatch(
      /Product\.price +ios-app +5\.2\.0 +ProductPrice +5 /,
    );
    // The day's hash expires after the retention (USAGE_RETENTION_DAYS, 35 by default).
    const ttl = await redis.ttl(`${namespace}usage:${new Date().toISOString().slice(0, 10)}`);
    expect(ttl).toBeGreaterThan(34 * 86_400);
    await Promise.all([a.close(), b.close()]);
  });

  it('keeps what was recorded across a restart, and writes the last batch when a gateway stops', async () => {
    // A flush interval no test waits for: only the graceful stop writes this gateway's batch.
    const slow = await startGateway({ USAGE_FLUSH_MS: '600000' });
    await send(slow, 1);
    await slow.close();
    expect((await priceUse())?.count).toBe(6);
    const restarted = await startGateway();
    await send(restarted, 1);
    await countReaches(7);
    await restarted.close();
    // The command itself, as a team runs it.
    const { stdout } = await run('npm', ['run', '--silent', 'schema:usage', '--', '--coordinate', 'Product.price', '--json'], {
      cwd: ROOT,
      env: { ...process.env, REDIS_URL: inject('redis').url, EVENT_NAMESPACE: namespace },
    });
    const out = JSON.parse(stdout) as { storage: string; uses: UsageEntry[] };
    expect(out.storage).toBe('redis');
    expect(out.uses).toEqual([expect.objectContaining({ coordinate: 'Product.price', client: 'ios-app', version: '5.2.0', count: 7 })]);
  });
});
