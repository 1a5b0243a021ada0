import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskPrivate } from '../../gateway/cache/private-answers.js';
import { readFromOf } from '../../gateway/cache/tagged-store.js';
import { createDedupStep } from '../../gateway/subgraph-fetch-dedup.js';
import type { SubgraphFetch } from '../../gateway/subgraph-fetch-stack.js';
import { respond } from '../../gateway/subgraph-fetcher.js';
import { READ_SOURCE_HEADER } from '../../platform/lsn.js';
import { createGatewayTester } from '../support/gateway-tester.js';
import type { GatewayTester } from '../support/gateway-tester.js';
import { eventually } from '../support/eventually.js';

/**
 * In-flight deduplication (gateway/subgraph-fetch-dedup.ts) through the real gateway: the subgraph
 * holds every answer until the test has seen what it expects arrive, so "at the same time" is
 * certain, not a race the test hopes to win.
 */

// A subgraph SDL (federation directives): plain text, not a document the linter checks against the API schema.
const SHELF = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])

  type Query {
    shelf: Shelf!
  }
  type Mutation {
    bump: Int!
  }
  type Shelf @key(fields: "id") {
    id: ID!
    items: [String!]!
  }
`;

let tester: GatewayTester;
let fetches = 0;
let bumps = 0;
let release: () => void = () => {};
let held = Promise.resolve();
const hold = () => {
  held = new Promise<void>((resolve) => (release = resolve));
};

beforeAll(async () => {
  tester = await createGatewayTester({
    subgraphs: {
      shelf: {
        typeDefs: SHELF,
        resolvers: {
          Query: {
            shelf: async () => {
              fetches += 1;
              await held;
              return { id: 's1', items: ['tea', 'cups'] };
            },
          },
          Mutation: {
            bump: async () => {
              const n = (bumps += 1);
              await held;
              return n;
            },
          },
        },
      },
    },
    env: { RATE_LIMIT_ANONYMOUS: '100000', RATE_LIMIT_USER: '100000' },
  });
});
afterAll(async () => {
  release();
  await tester?.close();
});

const SHELF_QUERY = { query: '{ shelf { id items } }' };
const deduplicated = () => tester.counter('gateway_subgraph_fetch_deduplicated_total', { subgraph: 'shelf' });

describe('in-flight deduplication of subgraph fetches', () => {
  it('sends concurrent identical anonymous queries once, each caller getting its own whole answer', async () => {
    hold();
    const before = { fetches, shared: await deduplicated() };
    const answers = Promise.all(Array.from({ length: 5 }, () => tester.post(SHELF_QUERY)));
    // One fetch on the wire, four waiting for it: only then does the subgraph answer.
    await eventually(async () => ((await deduplicated()) - before.shared === 4 ? true : undefined));
    expect(fetches - before.fetches).toBe(1);
    release();
    for (const { status, body } of await answers) {
      expect(status).toBe(200);
      expect(body).toEqual({ data: { shelf: { id: 's1', items: ['tea', 'cups'] } } });
    }
    // Once answered, the next identical query goes to the subgraph again: nothing is kept.
    await tester.post(SHELF_QUERY);
    expect(fetches - before.fetches).toBe(2);
  });

  it("never shares one caller's fetch with another caller", async () => {
    hold();
    const before = { fetches, shared: await deduplicated() };
    const [ada, bob] = await Promise.all([tester.token({ sub: 'ada', role: 'CUSTOMER' }), tester.token({ sub: 'bob', role: 'CUSTOMER' })]);
    const answers = Promise.all([ada, bob].map((token) => tester.post(SHELF_QUERY, { authorization: `Bearer ${token}` })));
    // Both callers' fetches reach the subgraph while the first is still held.
    await eventually(async () => (fetches - before.fetches === 2 ? true : undefined));
    release();
    for (const { body } of await answers) expect(body.data.shelf.items).toEqual(['tea', 'cups']);
    expect((await deduplicated()) - before.shared).toBe(0);
  });

  it('sends every mutation', async () => {
    hold();
    const before = { bumps, shared: await deduplicated() };
    const answers = Promise.all([1, 2, 3].map(() => tester.post({ query: 'mutation { bump }' })));
    await eventually(async () => (bumps - before.bumps === 3 ? true : undefined));
    release();
    const values = (await answers).map(({ body }) => body.data.bump as number).sort();
    expect(new Set(values).size).toBe(3);
    expect((await deduplicated()) - before.shared).toBe(0);
  });
});

describe("a waiter's copy of a shared answer", () => {
  it("does not claim the first fetch's read on the primary (the caches' write rule), and is otherwise the same answer", async () => {
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    const headers = { 'content-type': 'application/json', [READ_SOURCE_HEADER]: 'primary', 'x-cache-tags': 'Shelf:s1' };
    const step = createDedupStep({ onShared: () => {} });
    const next = async () => {
      await gate;
      return respond('http://shelf/graphql', 200, 'OK', headers, Buffer.from('{"data":{"shelf":{"id":"s1"}}}'));
    };
    const fetch: SubgraphFetch = {
      subgraph: 'shelf',
      operation: 'query',
      caller: null,
      lsn: undefined,
      requestId: undefined,
      url: 'http://shelf/graphql',
      init: { method: 'POST', body: '{"query":"{ shelf { id } }"}', headers: { 'content-type': 'application/json' } },
    };
    const first = step(fetch, next);
    const waiter = step({ ...fetch }, next);
    open();
    const [sent, shared] = await Promise.all([first, waiter]);
    expect(readFromOf(sent.headers)).toBe('primary');
    expect(readFromOf(shared.headers)).toBeUndefined();
    expect(shared.headers.has(READ_SOURCE_HEADER)).toBe(false);
    expect([...(shared.headers as unknown as Iterable<[string, string]>)].map(([name]) => name)).toEqual(['content-type', 'x-cache-tags']);
    expect(shared.headers.get('x-cache-tags')).toBe('Shelf:s1');
    expect(shared.status).toBe(200);
    expect(await shared.text()).toBe('{"data":{"shelf":{"id":"s1"}}}');
    expect(await sent.text()).toBe('{"data":{"shelf":{"id":"s1"}}}');
  });

  it('takes a further header change on top (a private answer masked for the caller)', async () => {
    const headers = { 'content-type': 'application/json', 'cache-control': 'private, max-age=5', [READ_SOURCE_HEADER]: 'primary' };
    const step = createDedupStep({ onShared: () => {} });
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    const next = async () => {
      await gate;
      return respond('http://shelf/graphql', 200, 'OK', headers, Buffer.from('{"data":{}}'));
    };
    const fetch: SubgraphFetch = {
      subgraph: 'shelf',
      operation: 'query',
      caller: 'ada',
      lsn: undefined,
      requestId: undefined,
      url: 'http://shelf/graphql',
      init: { method: 'POST', body: '{"query":"{ me { id } }"}', headers: {} },
    };
    const first = step(fetch, next);
    const waiter = step({ ...fetch }, next);
    open();
    await first;
    const masked = maskPrivate(await waiter);
    expect(masked.headers.get('cache-control')).toBe('no-store');
    expect(masked.headers.get(READ_SOURCE_HEADER)).toBeNull();
    expect(masked.clone().headers.get('cache-control')).toBe('no-store');
    expect(await masked.text()).toBe('{"data":{}}');
  });
});
