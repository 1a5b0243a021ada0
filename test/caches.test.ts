import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheLookups, changeAndAwaitEvent as awaitEvents, untilCached as whenCached } from './support/cache-probes.js';
import type { CacheKind } from './support/cache-probes.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/**
 * The response and entity caches (gateway/cache/) through the real gateway, on a Redis server of this file's own
 * (append-only, stopped and started again): cacheable subgraph fetches are served from Redis, a
 * stock change is in the very next response once its event reached the gateway, nothing private is
 * ever stored, a lost event costs at most the max-age, and with Redis away the gateway goes
 * uncached (fresh), never stale.
 */

let stack: Stack;
let admin: TestUser;
let redis: Redis;

beforeAll(async () => {
  stack = await startStack({ bus: 'own-redis' });
  admin = await stack.admin();
  redis = new Redis(stack.ownRedis!.url, { maxRetriesPerRequest: null });
  redis.on('error', () => {});
}, 120_000);
afterAll(async () => {
  redis?.disconnect();
  await stack?.close();
});

const PRODUCT = 'query Product($id: ID!) { product(id: $id) { id stock name } }';
const CATEGORY_PAGE =
  'query Page($c: ID!) { products(filter: { categoryId: $c }, first: 5) { edges { node { id stock shippingEstimate { amountCents } } } } }';
const MY_ORDERS =
  'query Mine { me { id email orders(first: 5) { edges { node { id number items { quantity product { id stock } } } } } } }';
const ADJUST = 'mutation Adjust($id: ID!, $d: Int!) { adjustStock(productId: $id, delta: $d) { id stock } }';
interface Node {
  id: string;
  status: string;
  invoice: { id: string; status: string; payments: { status: string }[] } | null;
}
const MY_INVOICES =
  'query MyInvoices { me { orders(first: 5) { edges { node { id status invoice { id status payments { status } } } } } } }';

const placeOrder = (who: TestUser, productId: string) =>
  stack.gql(
    'mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }',
    { input: { items: [{ productId, quantity: 2 }], idempotencyKey: randomUUID() } },
    { token: who.token },
  );
const pay = (who: TestUser, invoiceId: string, cardToken: string) =>
  stack.gql(
    'mutation ($i: PayInvoiceInput!) { payInvoice(input: $i) { id status } }',
    { i: { invoiceId, cardToken, idempotencyKey: randomUUID() } },
    { token: who.token },
  );

type Cache = CacheKind;
const lookups = (only?: Cache, subgraph?: string) => cacheLookups(stack.supergraph.metricsUrls.gateway, only, subgraph);
const changeAndAwaitEvent = <T>(change: () => Promise<T>, events: string[], metricsUrls = [stack.supergraph.metricsUrls.gateway]) =>
  awaitEvents(change, events, metricsUrls);
const untilCached = (ask: () => Promise<unknown>, only?: Cache, subgraph?: string) =>
  whenCached(stack.supergraph.metricsUrls.gateway, ask, only, subgraph);

const stockOf = async (id: string) => (await stack.gql(PRODUCT, { id })).data?.product?.stock as number | undefined;

describe('response and entity caches', () => {
  it('serves public answers from Redis, and a stock change is in the next response after its event', async () => {
    const category = await stack.category();
    const product = await stack.product({ categoryId: category.id, stock: 100 });
    // Anonymous public queries: whole answers from the response cache.
    await untilCached(() => stack.gql(PRODUCT, { id: product.id }), 'response');
    await untilCached(() => stack.gql(CATEGORY_PAGE, { c: category.id }), 'response');

    for (const delta of [-7, -5, 3]) {
      const changed = await changeAndAwaitEvent(
        () => stack.gql(ADJUST, { id: product.id, d: delta }, { token: admin.token }),
        ['StockChanged'],
      );
      const stock = changed.data.adjustStock.stock as number;
      // No polling from here: the very next answers must carry the change.
      expect(await stockOf(product.id)).toBe(stock);
      const page = await stack.gql(CATEGORY_PAGE, { c: category.id });
      expect(page.data.products.edges.map((e: { node: { stock: number } }) => e.node.stock)).toEqual([stock]);
    }
  }, 90_000);

  it('a product renamed, or a new product in a category, is in the next response after its ProductChanged event', async () => {
    const category = await stack.category();
    const product = await stack.product({ categoryId: category.id, stock: 5 });
    const page = 'query Names($c: ID!) { products(filter: { categoryId: $c }, first: 5) { edges { node { id name category { id } } } } }';
    const names = async () =>
      (await stack.gql(page, { c: category.id })).data.products.edges.map((e: { node: { name: string } }) => e.node.name);
    await untilCached(() => stack.gql(PRODUCT, { id: product.id }), 'response');
    await untilCached(() => stack.gql(page, { c: category.id }), 'response');
    await changeAndAwaitEvent(
      () =>
        stack.gql(
          'mutation ($id: ID!) { updateProduct(id: $id, input: { name: "Renamed" }) { id } }',
          { id: product.id },
          { token: admin.token },
        ),
      ['ProductChanged'],
    );
    expect((await stack.gql(PRODUCT, { id: product.id })).data.product.name).toBe('Renamed');
    expect(await names()).toEqual(['Renamed']);
    const added = await changeAndAwaitEvent(() => stack.product({ categoryId: category.id, name: 'Newcomer' }), ['ProductChanged']);
    expect(added.id).toBeTruthy();
    expect(await names()).toEqual(['Newcomer', 'Renamed']); // newest first
  }, 60_000);

  it('caches the product entities of a private operation for everyone, never the private answer', async () => {
    const [ada, bob] = [await stack.customer('Ada'), await stack.customer('Bob')];
    const product = await stack.product({ stock: 50 });
    const placed = await changeAndAwaitEvent(() => placeOrder(ada, product.id), ['OrderPlaced']);
    const adaOrders = () => stack.gql(MY_ORDERS, {}, { token: ada.token });
    // The catalog's `_entities` fetch for the order's product is cached inside Ada's private operation,
    // and Ada's own orders are kept for Ada alone; the answer itself never goes to the response cache.
    const responsesBefore = await lookups('response');
    await untilCached(adaOrders, 'entity', 'catalog');
    await untilCached(adaOrders, 'entity', 'orders');
    expect(await lookups('response')).toEqual(responsesBefore);
    const mine = await adaOrders();
    expect(mine.data.me.email).toBe(ada.email);
    expect(mine.data.me.orders.edges[0].node.items[0].product).toEqual({ id: product.id, stock: 48 });

    // Bob, asking the same operation, gets his own (empty) answer, never Ada's.
    const bobs = await stack.gql(MY_ORDERS, {}, { token: bob.token });
    expect(bobs.data.me).toMatchObject({ id: bob.id, email: bob.email, orders: { edges: [] } });
    const entries = await cacheEntries();
    expect(entries.some((e) => e.tags.split(' ').includes(`Product:${product.id}`))).toBe(true); // the product entity is shared
    // Ada's orders are kept (under her identity), the users subgraph's answers (email) never are.
    expect(entries.some((e) => e.body.includes(placed.data.placeOrder.id))).toBe(true);
    for (const entry of entries) for (const secret of [ada.email, bob.email]) expect(entry.body).not.toContain(secret);

    // A stock change reaches the private operation's product too (after its event: polled here).
    const changed = await stack.gql(ADJUST, { id: product.id, d: -10 }, { token: admin.token });
    expect(changed.data.adjustStock.stock).toBe(38);
    await eventually(async () => ((await adaOrders()).data.me.orders.edges[0].node.items[0].product.stock === 38 ? true : undefined));
  }, 90_000);

  it('keeps each entity of an _entities fetch on its own: another page with some of the same products fetches only the rest', async () => {
    const [ada, bob] = [await stack.customer('Ada Entities'), await stack.customer('Bob Entities')];
    const [p1, p2, p3] = [await stack.product({ stock: 11 }), await stack.product({ stock: 22 }), await stack.product({ stock: 33 })];
    const order = (who: TestUser, ids: string[]) =>
      changeAndAwaitEvent(
        () =>
          stack.gql(
            'mutation ($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }',
            { input: { items: ids.map((productId) => ({ productId, quantity: 1 })), idempotencyKey: randomUUID() } },
            { token: who.token },
          ),
        ['OrderPlaced'],
      );
    await order(ada, [p1.id, p2.id]);
    await order(bob, [p2.id, p3.id]);
    // Every product event has reached the gateway (creation 1, then one StockChanged per order), so
    // no late one drops an entry below.
    const version = async (id: string) => Number((await redis.get(`${stack.eventNamespace}cache:v:Product:${id}`)) ?? 0);
    await eventually(async () =>
      (await version(p1.id)) >= 2 && (await version(p2.id)) >= 3 && (await version(p3.id)) >= 2 ? true : undefined,
    );
    const page = (who: TestUser) => stack.gql(MY_ORDERS, {}, { token: who.token });
    const stocks = (res: Awaited<ReturnType<typeof page>>) =>
      (res.data.me.orders.edges[0].node.items as { product: { id: string; stock: number } }[]).map((i): [string, number] => [
        i.product.id,
        i.product.stock,
      ]);
    // Until Ada's page is all hits at catalog (no entry is written for 2 s after its product's event).
    await eventually(async () => {
      const was = await lookups('entity', 'catalog');
      await page(ada);
      const now = await lookups('entity', 'catalog');
      return now.hit - was.hit === 2 && now.miss === was.miss ? true : undefined;
    });
    const before = await lookups('entity', 'catalog');
    const bobs = await page(bob);
    const after = await lookups('entity', 'catalog');
    // p2 from Ada's page's entries, only p3 fetched; in the order of Bob's items.
    expect({ hit: after.hit - before.hit, miss: after.miss - before.miss }).toEqual({ hit: 1, miss: 1 });
    expect(new Map(stocks(bobs))).toEqual(
      new Map([
        [p2.id, 20],
        [p3.id, 32],
      ]),
    );
    expect(new Map(stocks(await page(ada)))).toEqual(
      new Map([
        [p1.id, 10],
        [p2.id, 20],
      ]),
    );
  }, 90_000);

  it("keeps a caller's private answers exact: a new order, a payment and a decline are in the next answer", async () => {
    const ada = await stack.customer('Ada Private');
    const product = await stack.product({ stock: 50 });
    const first = (await changeAndAwaitEvent(() => placeOrder(ada, product.id), ['OrderPlaced'])).data.placeOrder.id as string;
    const orders = async () =>
      (await stack.gql(MY_INVOICES, {}, { token: ada.token })).data.me.orders.edges.map((e: { node: Node }) => e.node) as Node[];
    const invoiceOf = async (orderId: string) =>
      eventually(async () => (await orders()).find((o) => o.id === orderId && o.invoice?.status === 'OPEN')?.invoice ?? undefined);
    const firstInvoice = await invoiceOf(first);
    await untilCached(orders, 'entity', 'orders');

    // OrderPlaced drops Ada's list (tag User:<id>): the next answer lists the new order, without polling.
    // (Another product: the first one's StockChanged would drop the list's entry on its own.)
    const other = await stack.product({ stock: 50 });
    const second = (await changeAndAwaitEvent(() => placeOrder(ada, other.id), ['OrderPlaced'])).data.placeOrder.id as string;
    expect((await orders()).map((o) => o.id)).toEqual([second, first]);

    // Paid: InvoicePaid drops the invoice's entries; the next answer shows it, and its payment.
    await untilCached(orders, 'entity', 'orders');
    await changeAndAwaitEvent(() => pay(ada, firstInvoice.id, 'tok_visa'), ['InvoicePaid']);
    expect((await orders()).find((o) => o.id === first)?.invoice).toMatchObject({ status: 'PAID', payments: [{ status: 'SUCCEEDED' }] });

    // A decline has no event: an open invoice's payments are never kept, so it shows at once all the same.
    const secondInvoice = await invoiceOf(second);
    await orders();
    const declined = await pay(ada, secondInvoice.id, 'tok_chargeDeclined');
    expect(declined.errors?.[0]?.extensions?.code).toBe('PAYMENT_DECLINED');
    expect((await orders()).find((o) => o.id === second)?.invoice).toMatchObject({ status: 'OPEN', payments: [{ status: 'FAILED' }] });
  }, 90_000);

  it('is shared by every gateway, and an event drops the entry for all of them', async () => {
    const other = await stack.extraGateway();
    const product = await stack.product({ stock: 40 });
    const stockAt = async (url: string) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: PRODUCT, variables: { id: product.id } }),
      });
      return ((await res.json()) as { data: { product: { stock: number } } }).data.product.stock;
    };
    await untilCached(() => stack.gql(PRODUCT, { id: product.id }), 'response');
    // Changed behind the caches' back: a gateway that never asked before still answers 40, from Redis.
    await stack.sql.catalog`update products set stock = 41 where id = ${product.id}`;
    expect(await stockAt(other.url)).toBe(40);
    // A real change: once its event reached both gateways, both answer fresh.
    const changed = await changeAndAwaitEvent(
      () => stack.gql(ADJUST, { id: product.id, d: 4 }, { token: admin.token }),
      ['StockChanged'],
      [stack.supergraph.metricsUrls.gateway, other.metricsUrl],
    );
    expect(changed.data.adjustStock.stock).toBe(45);
    expect(await stockAt(other.url)).toBe(45);
    expect(await stockOf(product.id)).toBe(45);
  }, 60_000);

  it('an anonymous answer with a private part is not stored', async () => {
    const product = await stack.product({ stock: 9 });
    const mixed = `query { product(id: "${product.id}") { id stock } me { id } }`;
    const before = await lookups('response');
    for (let i = 0; i < 4; i++) expect((await stack.gql(mixed)).data.product.stock).toBe(9);
    const after = await lookups('response');
    expect(after.hit).toBe(before.hit);
    expect(after.miss - before.miss).toBe(4);
  }, 60_000);

  it('a lost event costs at most the max-age (Product.stock: 30 s)', async () => {
    const product = await stack.product({ stock: 70 });
    await untilCached(() => stack.gql(PRODUCT, { id: product.id }));
    // A change no event announces (as if its publication were lost): only the max-age can end the old answer.
    await stack.sql.catalog`update products set stock = 69 where id = ${product.id}`;
    const changedAt = Date.now();
    expect(await stockOf(product.id)).toBe(70); // the cache is really in the way
    const stale: number[] = [];
    await eventually(
      async () => {
        const sentAt = Date.now();
        if ((await stockOf(product.id)) === 69) return true;
        stale.push(sentAt);
        return undefined;
      },
      { timeoutMs: 40_000, intervalMs: 500 },
    );
    // Timed by when each request was sent, not when its answer came (a loaded machine answers late):
    // the entry was stored before the change, so no request sent 30 s after the change is answered from it.
    expect(Math.max(changedAt, ...stale) - changedAt).toBeLessThanOrEqual(30_000);
  }, 90_000);

  it('with Redis stopped the gateway answers uncached, fresh; after it returns, nothing stale comes back', async () => {
    const product = await stack.product({ stock: 500 });
    await untilCached(() => stack.gql(PRODUCT, { id: product.id }));
    await stack.ownRedis!.stop();
    try {
      // The change commits while no event can be delivered; the read goes to the subgraph.
      const changed = await stack.gql(ADJUST, { id: product.id, d: -1 }, { token: admin.token });
      expect(changed.data?.adjustStock.stock).toBe(499);
      for (let i = 0; i < 5; i++) expect(await stockOf(product.id)).toBe(499);
    } finally {
      await stack.ownRedis!.start();
    }
    // Redis is back with its append-only file, the old entry included: it must never be served.
    const hitsBefore = (await lookups()).hit;
    const deadline = Date.now() + 20_000;
    let hits = hitsBefore;
    while (Date.now() < deadline && hits === hitsBefore) {
      expect(await stockOf(product.id)).toBe(499);
      hits = (await lookups()).hit;
    }
    // ...and the cache works again.
    expect(hits).toBeGreaterThan(hitsBefore);
    expect(await stockOf(product.id)).toBe(499);
  }, 90_000);
});

/** Every cache entry's stored answer and tags. */
async function cacheEntries(): Promise<{ body: string; tags: string }[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${stack.eventNamespace}cache:e:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const entries: { body: string; tags: string }[] = [];
  for (const key of keys) {
    const [body, tags] = await redis.hmget(key, 'b', 't');
    if (typeof body === 'string') entries.push({ body, tags: tags ?? '' });
  }
  return entries;
}
