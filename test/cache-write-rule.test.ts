import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheLookups, changeAndAwaitEvent, untilCached } from './support/cache-probes.js';
import { startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/**
 * When the caches may store an answer soon after an event about it (gateway/cache/tagged-store.ts,
 * FetchMark), and which lists an event drops (platform/cache-tags.ts listChangedOnlyBy).
 *
 * Both stacks run with a skew (CACHE_EVENT_SKEW_MS) of 30 s, far longer than any step here, so a
 * write the skew refuses stays refused for the whole test: an answer read on the primary after
 * the event must be stored at once; one read on a replica must not be, however fresh it looks.
 */

const SKEW = { CACHE_EVENT_SKEW_MS: '30000' };
const PRODUCT = 'query RuleProduct($id: ID!) { product(id: $id) { id stock } }';
const PAGE = 'query RulePage($c: ID!) { products(filter: { categoryId: $c }, first: 5) { edges { node { id stock } } } }';
const IN_STOCK_PAGE =
  'query RuleInStock($c: ID!) { products(filter: { categoryId: $c, inStock: true }, first: 5) { edges { node { id stock } } } }';
const ADJUST = 'mutation RuleAdjust($id: ID!, $d: Int!) { adjustStock(productId: $id, delta: $d) { id stock } }';

interface Context {
  stack: Stack;
  admin: TestUser;
  metrics: string;
}

async function start(replica: boolean): Promise<Context> {
  const stack = await startStack({ ...(replica ? { replica: true } : {}), extra: { gateway: SKEW } });
  return { stack, admin: await stack.admin(), metrics: stack.supergraph.metricsUrls.gateway };
}

/** Changes a product's stock and waits until the gateway has heard its StockChanged. */
const adjust = (c: Context, id: string, d: number) =>
  changeAndAwaitEvent(() => c.stack.gql(ADJUST, { id, d }, { token: c.admin.token }), ['StockChanged'], [c.metrics]);

const stocks = (page: { data?: { products: { edges: { node: { stock: number } }[] } } }) =>
  page.data?.products.edges.map((e) => e.node.stock);

describe('cache writes after an event, primaries only', () => {
  let c: Context;
  beforeAll(async () => {
    c = await start(false);
  }, 120_000);
  afterAll(() => c?.stack.close());

  it('stores an answer read on the primary after the event at once, skew or not', async () => {
    const product = await c.stack.product({ stock: 50 });
    await untilCached(c.metrics, () => c.stack.gql(PRODUCT, { id: product.id }), 'response');
    const changed = await adjust(c, product.id, -4);
    expect(changed.data.adjustStock.stock).toBe(46);
    // The next answer carries the change, and is itself kept: asking again is a hit long before the 30 s skew.
    expect((await c.stack.gql(PRODUCT, { id: product.id })).data.product.stock).toBe(46);
    await untilCached(c.metrics, () => c.stack.gql(PRODUCT, { id: product.id }), 'response', undefined, 15_000);
    expect((await c.stack.gql(PRODUCT, { id: product.id })).data.product.stock).toBe(46);
  }, 90_000);

  it("keeps a category page through another product's stock change; drops an inStock page; shows its own product's change", async () => {
    const category = await c.stack.category();
    const onPage = await c.stack.product({ categoryId: category.id, stock: 9 });
    const elsewhere = await c.stack.product({ stock: 9 });
    await untilCached(c.metrics, () => c.stack.gql(PAGE, { c: category.id }), 'response');
    await untilCached(c.metrics, () => c.stack.gql(IN_STOCK_PAGE, { c: category.id }), 'response');

    await adjust(c, elsewhere.id, -1);
    const before = await cacheLookups(c.metrics, 'response');
    expect(stocks(await c.stack.gql(PAGE, { c: category.id }))).toEqual([9]);
    const afterPage = await cacheLookups(c.metrics, 'response');
    expect(afterPage.hit).toBe(before.hit + 1); // not dropped: its list cannot move with stock
    expect(stocks(await c.stack.gql(IN_STOCK_PAGE, { c: category.id }))).toEqual([9]);
    const afterInStock = await cacheLookups(c.metrics, 'response');
    expect(afterInStock.hit).toBe(afterPage.hit); // dropped: any product's stock may move it
    expect(afterInStock.miss).toBe(afterPage.miss + 1);

    // Its own product's stock: the page holds that product, and its tag drops it.
    await adjust(c, onPage.id, -9);
    expect(stocks(await c.stack.gql(PAGE, { c: category.id }))).toEqual([0]);
    expect(stocks(await c.stack.gql(IN_STOCK_PAGE, { c: category.id }))).toEqual([]);
  }, 90_000);
});

describe('cache writes after an event, read replicas', () => {
  let c: Context;
  beforeAll(async () => {
    c = await start(true);
  }, 120_000);
  afterAll(() => c?.stack.close());

  it('does not store an answer read on a replica within the skew after an event about it', async () => {
    const product = await c.stack.product({ stock: 50 });
    await adjust(c, product.id, -4);
    const before = await cacheLookups(c.metrics, 'response');
    for (let i = 0; i < 3; i++) await c.stack.gql(PRODUCT, { id: product.id });
    const after = await cacheLookups(c.metrics, 'response');
    // Each ask went to the subgraph (a replica read) and none was stored: three misses, no hit.
    expect(after.hit - before.hit).toBe(0);
    expect(after.miss - before.miss).toBe(3);
  }, 90_000);
});
