import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileUsageStore } from '../../gateway/usage/index.js';
import { coordinateUsage } from '../../scripts/schema-usage.js';
import { createGatewayTester } from '../support/gateway-tester.js';
import type { GatewayTester } from '../support/gateway-tester.js';
import { eventually } from '../support/stack.js';

/**
 * Field usage without Redis (the embedded `npm start`): the gateway writes per-day files under
 * USAGE_DIR, read back as the commands read them; and a storage that cannot be written fails no
 * request (the flush is off the request path).
 */
// A subgraph SDL (federation directives): plain text, not a document the linter checks against the API schema.
const SHOP = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
  enum Sort { NEWEST CHEAPEST }
  type Query {
    products(first: Int!, sort: Sort): [Product!]!
  }
  type Product @key(fields: "id") {
    id: ID!
    price: Int!
  }
`;
const SHELF = 'query Shelf { products(first: 2, sort: CHEAPEST) { id price } }';
const gateways: GatewayTester[] = [];
const start = async (usageDir: string) => {
  const gateway = await createGatewayTester({
    subgraphs: { shop: { typeDefs: SHOP, resolvers: { Query: { products: () => [{ id: 'p1', price: 5 }] } } } },
    env: { USAGE_DIR: usageDir, USAGE_FLUSH_MS: '100' },
  });
  gateways.push(gateway);
  return gateway;
};
const web = { 'apollographql-client-name': 'web', 'apollographql-client-version': '2026.12.1' };
afterAll(() => Promise.all(gateways.map((g) => g.close())));

describe('field usage without Redis', () => {
  it('records coordinates, arguments and enum literals to per-day files', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'usage-files-'));
    const gateway = await start(dir);
    for (let i = 0; i < 3; i++) expect((await gateway.post({ query: SHELF }, web)).status).toBe(200);
    const store = createFileUsageStore(dir, 35);
    const uses = await eventually(async () => {
      const found = await coordinateUsage(store, ['Product.price', 'Query.products(sort:)', 'Sort.CHEAPEST', 'Sort.NEWEST'], 1);
      return found.length === 3 && found.every((u) => u.count === 3) ? found : undefined;
    });
    expect(uses.map((u) => [u.coordinate, u.client, u.version, u.operation]).sort()).toEqual([
      ['Product.price', 'web', '2026.12.1', 'Shelf'],
      ['Query.products(sort:)', 'web', '2026.12.1', 'Shelf'],
      ['Sort.CHEAPEST', 'web', '2026.12.1', 'Shelf'],
    ]);
  });

  it('answers every request while its storage cannot be written', async () => {
    // A folder under a regular file: every flush fails (ENOTDIR).
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'usage-broken-')), 'not-a-folder');
    await writeFile(file, '');
    const gateway = await start(path.join(file, 'usage'));
    for (let i = 0; i < 5; i++) {
      expect((await gateway.post({ query: SHELF }, web)).body).toEqual({ data: { products: [{ id: 'p1', price: 5 }] } });
      await new Promise((r) => setTimeout(r, 150));
    }
    // The flushes did fail, and said so.
    const failed = await eventually(async () => {
      const text = await (await fetch(gateway.metricsUrl)).text();
      const count = Number(/^usage_flushes_total\{[^}]*outcome="failed"[^}]*\} (\d+)/m.exec(text)?.[1] ?? 0);
      return count > 0 ? count : undefined;
    });
    expect(failed).toBeGreaterThan(0);
  });
});
