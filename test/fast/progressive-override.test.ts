import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callerShare } from '../../gateway/progressive-override.js';
import { createGatewayTester } from '../support/gateway-tester.js';
import type { GatewayTester } from '../support/gateway-tester.js';

/**
 * Progressive `@override(label: "percent(N)")` through the real gateway: `Product.price` moves from
 * `old` to `new` for a share of callers. Each subgraph answers a price of its own, so an answer says
 * which subgraph served it. Who falls in the share is a hash of caller and label, so the expected
 * split is computed here from the same function, exactly, and is the same on every run.
 */

const OLD = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
  type Query { product(id: ID!): Product }
  type Product @key(fields: "id") { id: ID! name: String! price: Int! }
`;
const NEW = (label: string) => `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@override"])
  type Product @key(fields: "id") { id: ID! price: Int! @override(from: "old", label: "${label}") }
`;
const OLD_PRICE = 100;
const NEW_PRICE = 200;

const start = (label: string) =>
  createGatewayTester({
    subgraphs: {
      old: {
        typeDefs: OLD,
        resolvers: { Query: { product: (_: unknown, { id }: { id: string }) => ({ id, name: `product ${id}`, price: OLD_PRICE }) } },
      },
      new: { typeDefs: NEW(label), resolvers: { Product: { price: () => NEW_PRICE } } },
    },
  });

let half: GatewayTester;
let none: GatewayTester;
let all: GatewayTester;
beforeAll(async () => {
  [half, none, all] = await Promise.all([start('percent(50)'), start('percent(0)'), start('percent(100)')]);
}, 60_000);
afterAll(() => Promise.all([half?.close(), none?.close(), all?.close()]));

const QUERY = '{ product(id: "1") { name price } }';
const USERS = Array.from({ length: 40 }, (_, i) => `user-${i}`);

async function priceFor(tester: GatewayTester, user?: string): Promise<number> {
  const headers = user ? { authorization: `Bearer ${await tester.token({ sub: user, role: 'CUSTOMER' })}` } : undefined;
  const res = await tester.post({ query: QUERY }, headers);
  expect(res.body.errors).toBeUndefined();
  expect(res.body.data.product.name).toBe('product 1');
  return res.body.data.product.price as number;
}

describe('progressive @override', () => {
  it('serves the field from the new subgraph for the callers in the share, the same callers every time', async () => {
    const expected = USERS.map((u) => (callerShare(`user:${u}`, 'percent(50)') < 50 ? NEW_PRICE : OLD_PRICE));
    // A split that is all one side would prove nothing: the 40 callers fall on both sides.
    expect(new Set(expected).size).toBe(2);
    for (let round = 0; round < 2; round++) {
      const served = await Promise.all(USERS.map((u) => priceFor(half, u)));
      expect(served).toEqual(expected);
    }
  });

  it('percent(0) keeps every caller on the old subgraph; percent(100) moves every caller', async () => {
    expect(await Promise.all(USERS.slice(0, 10).map((u) => priceFor(none, u)))).toEqual(Array(10).fill(OLD_PRICE));
    expect(await Promise.all(USERS.slice(0, 10).map((u) => priceFor(all, u)))).toEqual(Array(10).fill(NEW_PRICE));
  });

  it('an anonymous caller is kept by its address', async () => {
    const expected = callerShare('ip:127.0.0.1', 'percent(50)') < 50 ? NEW_PRICE : OLD_PRICE;
    expect(await Promise.all(Array.from({ length: 5 }, () => priceFor(half)))).toEqual(Array(5).fill(expected));
  });

  it('counts each decision per label in gateway_override_label_total', async () => {
    await priceFor(all, 'counted');
    const metrics = await (await fetch(all.metricsUrl)).text();
    // A line per label set, e.g. gateway_override_label_total{label="percent(100)",enabled="true",service="gateway"} 11
    const count = (enabled: string) =>
      metrics
        .split('\n')
        .filter(
          (l) => l.startsWith('gateway_override_label_total{') && l.includes('label="percent(100)"') && l.includes(`enabled="${enabled}"`),
        )
        .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
    expect(count('true')).toBeGreaterThanOrEqual(11);
    expect(count('false')).toBe(0);
  });
});
