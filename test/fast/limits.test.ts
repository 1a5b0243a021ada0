import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../platform/paths.js';
import { createGatewayTester } from '../support/gateway-tester.js';
import type { GatewayTester, InlineSubgraph } from '../support/gateway-tester.js';
import { wsClient } from '../support/ws-client.js';

/**
 * Operation limits with the gateway's default settings: abuse is refused with its code before any
 * subgraph runs. The refusals depend on the document and on catalog's cost hints, never on data, so
 * the gateway runs over catalog's real SDL (schema/catalog.graphql, its @listSize hints included)
 * with a few rows in memory. test/limits.test.ts keeps what needs the real stack (the contract's
 * AccountPage over real orders, federated subscription payloads).
 */

const category = { id: 'c1', slug: 'tools', name: 'Tools' };
const products = Array.from({ length: 3 }, (_, i) => ({ id: `p${i}`, name: `Product ${i}`, categoryId: category.id }));
const connection = (first = 20) => ({
  edges: products.slice(0, first).map((node) => ({ cursor: node.id, node })),
  pageInfo: { hasNextPage: false, endCursor: null },
});

const catalog: InlineSubgraph = {
  typeDefs: readFileSync(path.join(ROOT, 'schema/catalog.graphql'), 'utf8'),
  resolvers: {
    Query: {
      products: (_: unknown, { first }: { first?: number }) => connection(first),
      categories: () => [category],
    },
    Category: { products: (_: unknown, { first }: { first?: number }) => connection(first) },
    Product: { category: () => category },
  },
};

let tester: GatewayTester;
let production: GatewayTester;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  [tester, production] = await Promise.all([
    createGatewayTester({ subgraphs: { catalog } }),
    createGatewayTester({ subgraphs: { catalog }, env: { NODE_ENV: 'production' } }),
  ]);
}, 60_000);
afterAll(async () => {
  await Promise.all(closers.map((c) => c()));
  await Promise.all([tester?.close(), production?.close()]);
});

interface Res {
  status: number;
  body: { data?: any; errors?: { message: string; extensions?: Record<string, any> }[]; extensions?: Record<string, any> };
}
const post = (query: string, variables: Record<string, unknown> = {}, on = tester): Promise<Res> => on.post({ query, variables });
const code = (r: Res) => r.body.errors?.[0]?.extensions?.code;

/** products → category → products … nested `levels` times: 3 levels deeper per hop. */
const deep = (levels: number) => `{ ${'products { edges { node { category { '.repeat(levels)}name${' } } } }'.repeat(levels)} }`;
const FAN_OUT = 'products(first: $n) { edges { node { category { products(first: $n) { edges { node { name } } } } } } }';

describe('operation limits (graphql-armor, default settings)', () => {
  it('a depth bomb is refused before anything runs: 400 GRAPHQL_VALIDATION_FAILED naming the limit', async () => {
    const res = await post(deep(4));
    expect(res.status).toBe(400);
    expect(code(res)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.body.errors![0]!.message).toMatch(/depth limit of 10 exceeded, found 17/);
    expect(res.body.data).toBeUndefined();
  });

  it('an alias bomb is refused', async () => {
    const aliases = Array.from({ length: 100 }, (_, i) => `a${i}: categories { id }`).join(' ');
    const res = await post(`{ ${aliases} }`);
    expect(res.status).toBe(400);
    expect(code(res)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.body.errors![0]!.message).toMatch(/Aliases limit of 15 exceeded, found 100/);
  });

  it('a directive flood is refused', async () => {
    const fields = Array.from({ length: 30 }, () => 'id @include(if: true)').join(' ');
    const res = await post(`{ categories { ${fields} } }`);
    expect(res.status).toBe(400);
    expect(res.body.errors!.some((e) => e.message.includes('Directives limit of 20 exceeded'))).toBe(true);
  });

  it('a 10,000-token document stops parsing at the limit: 400 GRAPHQL_PARSE_FAILED', async () => {
    const res = await post(`{ ${'__typename '.repeat(10_000)}}`);
    expect(res.status).toBe(400);
    expect(code(res)).toBe('GRAPHQL_PARSE_FAILED');
    expect(res.body.errors![0]!.message).toMatch(/1000 tokens/);
  });

  it("a fan-out is refused by armor's cost with literal page sizes, and by the static cost ceiling with variables: one code, COST_ESTIMATED_TOO_EXPENSIVE", async () => {
    const literal = await post(`{ ${FAN_OUT.replaceAll('$n', '100')} }`);
    expect(literal.status).toBe(400);
    expect(literal.body.errors).toHaveLength(1);
    expect(code(literal)).toBe('COST_ESTIMATED_TOO_EXPENSIVE');
    expect(literal.body.errors![0]!.message).toBe(
      "The operation's estimated cost 653422 is over the limit of 50000; ask for smaller pages.",
    );
    expect(literal.body.errors![0]!.extensions).toMatchObject({ cost: 653422, maxCost: 50000 });
    // Armor cannot see `first: $n`; the static cost applies the variables (and catalog's @listSize hints).
    const viaVariables = await post(`query($n: Int) { ${FAN_OUT} }`, { n: 100 });
    expect(viaVariables.status).toBe(400);
    expect(code(viaVariables)).toBe('COST_ESTIMATED_TOO_EXPENSIVE');
    expect(viaVariables.body.errors![0]!.message).toBe(
      "The operation's estimated cost 20405 is over the limit of 10000; ask for smaller pages.",
    );
    expect(viaVariables.body.errors![0]!.extensions).toMatchObject({ cost: 20405, maxCost: 10000 });
    // The same query with small pages is fine.
    const small = await post(`query($n: Int) { ${FAN_OUT} }`, { n: 3 });
    expect(small.body.errors).toBeUndefined();
    expect(small.status).toBe(200);
    // Costs are remembered per operation and variables (cost-budget.ts): the large pages are still refused.
    const again = await post(`query($n: Int) { ${FAN_OUT} }`, { n: 100 });
    expect(again.body.errors![0]!.extensions).toMatchObject({ cost: 20405, maxCost: 10000 });
  });

  it('keeps answering normal traffic while being flooded with refused operations', async () => {
    const abuse = Array.from({ length: 40 }, (_, i) => (i % 2 ? post(deep(6)) : post(`{ ${'__typename '.repeat(20_000)}}`)));
    const normal = Array.from({ length: 10 }, () => post('{ categories { id name } }'));
    const [refused, served] = await Promise.all([Promise.all(abuse), Promise.all(normal)]);
    expect(refused.every((r) => r.status === 400)).toBe(true);
    expect(served.every((r) => r.status === 200 && !r.body.errors && Array.isArray(r.body.data.categories))).toBe(true);
  });
});

describe('limits on subscriptions', () => {
  it('a subscription over the limits is refused when subscribed, with the HTTP code', async () => {
    const ws = wsClient(tester.url);
    closers.push(() => ws.dispose());
    const tooDeep = 'category { products { edges { node { category { products { edges { node { category { name } } } } } } } } }';
    const sub = ws.subscribe(`subscription($p: ID!) { stockChanged(productId: $p) { ${tooDeep} } }`, { p: 'p1' });
    const errors = (await sub.ended) as { message: string; extensions?: { code?: string } }[];
    expect(errors[0]!.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(errors[0]!.message).toMatch(/depth limit/);
  });
});

describe('cost over a WebSocket', () => {
  it("armor's cost refusal keeps its code over the socket too", async () => {
    const ws = wsClient(tester.url);
    closers.push(() => ws.dispose());
    const sub = ws.subscribe(`query { ${FAN_OUT.replaceAll('$n', '100')} }`);
    const errors = (await sub.ended) as { message: string; extensions?: Record<string, unknown> }[];
    expect(errors[0]!.extensions).toEqual({ code: 'COST_ESTIMATED_TOO_EXPENSIVE', cost: 653422, maxCost: 50000 });
  });
});

describe('in production', () => {
  it('introspection is refused and field suggestions are hidden; both stay available in development', async () => {
    const typo = '{ categries { id } }';
    const hidden = await post(typo, {}, production);
    expect(code(hidden)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(hidden.body.errors![0]!.message).not.toMatch(/Did you mean|categories/);
    expect((await post(typo)).body.errors![0]!.message).toMatch(/Did you mean "categories"/);

    const introspection = await post('{ __schema { types { name } } }', {}, production);
    expect(introspection.status).toBe(400);
    expect(introspection.body.errors![0]!.message).toMatch(/introspection/i);
    expect((await post('{ __schema { queryType { name } } }')).body.data.__schema.queryType.name).toBe('Query');
  });
});
