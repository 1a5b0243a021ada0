import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsistency } from '../gateway/consistency.js';
import { freePort } from '../scripts/free-port.js';
import { startExtraGateway } from '../scripts/local-supergraph.js';
import { cacheLookups, untilCached as whenCached } from './support/cache-probes.js';
import type { CacheKind } from './support/cache-probes.js';
import { multipartParts } from './support/multipart-reader.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/**
 * What a client can make the gateway's caches do (issue 23): a consistency token skips both caches
 * only when the gateway signed it; a @defer request never meets an answer stored in another form.
 * Real gateway, subgraphs and Redis.
 */

let stack: Stack;
let customer: TestUser;
let productId: string;

beforeAll(async () => {
  stack = await startStack();
  customer = await stack.customer();
  productId = (await stack.product({ stock: 40 })).id;
}, 120_000);
afterAll(() => stack?.close());

const PRODUCT = 'query EdgeProduct($id: ID!) { product(id: $id) { id name stock } }';

const lookups = (kind: CacheKind, metricsUrl = stack.supergraph.metricsUrls.gateway) => cacheLookups(metricsUrl, kind);
/** Asks until an answer comes from the cache (the 2 s rule may refuse the first writes). */
const untilCached = (kind: CacheKind, ask: () => Promise<unknown>) => whenCached(stack.supergraph.metricsUrls.gateway, ask, kind);

/** A token body as the gateway wrote it before tokens were signed: what a forger can make. */
const unsignedToken = () => Buffer.from(JSON.stringify({ catalog: ['0/FFFFFFF', Math.floor(Date.now() / 1000)] })).toString('base64url');

/** A token signed with this deployment's key, as any of its gateways hands one out after a write. */
function signedToken(): string {
  const gatewayConfig = {
    CONSISTENCY_COOKIE: 'false',
    CONSISTENCY_TOKEN_TTL_SECONDS: 300,
    NODE_ENV: 'test',
    CONSISTENCY_TOKEN_SECRETS: [],
    SERVICE_PRIVATE_JWK: stack.keys.services.gateway,
  } as const;
  const state = createConsistency(gatewayConfig as never).fromRequest({ headers: {} } as never);
  state.absorb('catalog:0/1');
  return state.newToken!;
}

describe('x-consistency-token', () => {
  it('a forged or malformed token is ignored: the response cache and the entity cache still answer', async () => {
    const ask = (headers: Record<string, string> = {}) => stack.gql(PRODUCT, { id: productId }, { headers });
    await untilCached('response', () => ask());
    for (const token of [unsignedToken(), `${unsignedToken()}.AAAA`, 'garbage', '.']) {
      const before = await lookups('response');
      const res = await ask({ 'x-consistency-token': token });
      expect(res.data.product.stock).toBe(40);
      expect((await lookups('response')).hit, token).toBe(before.hit + 1);
    }
    // Signed in (no response cache): the catalog fetch is still an entity-cache hit with a forged token.
    const signedIn = (headers: Record<string, string> = {}) => stack.gql(PRODUCT, { id: productId }, { token: customer.token, headers });
    await untilCached('entity', () => signedIn());
    const before = await lookups('entity');
    await signedIn({ 'x-consistency-token': unsignedToken() });
    expect((await lookups('entity')).hit).toBe(before.hit + 1);
  });

  it('a token signed by the deployment skips both caches on every gateway; a tampered one does not', async () => {
    const other = await stack.extraGateway();
    const token = signedToken();
    for (const [url, metricsUrl] of [
      [stack.url, stack.supergraph.metricsUrls.gateway],
      [other.url, other.metricsUrl],
    ] as const) {
      const before = await lookups('response', metricsUrl);
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-consistency-token': token },
        body: JSON.stringify({ query: PRODUCT, variables: { id: productId } }),
      });
      expect(res.status).toBe(200);
      const after = await lookups('response', metricsUrl);
      expect(after.hit + after.miss).toBe(before.hit + before.miss);
    }
    const [body, signature] = token.split('.');
    const tampered = `${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body!, 'base64url').toString()), orders: ['0/2', Math.floor(Date.now() / 1000)] })).toString('base64url')}.${signature}`;
    const before = await lookups('response');
    await stack.gql(PRODUCT, { id: productId }, { headers: { 'x-consistency-token': tampered } });
    expect((await lookups('response')).hit).toBe(before.hit + 1);
  });
});

const DEFERRED = 'query EdgeDeferred($id: ID!) { product(id: $id) { id ... @defer { name stock } } }';
const ONLY_MULTIPART = 'multipart/mixed;deferSpec=20220824';

const send = (body: Record<string, unknown>, accept: string) =>
  fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json', accept }, body: JSON.stringify(body) });

/** The data a multipart @defer answer adds up to (initial payload, then each incremental item at its path). */
async function assembled(res: Response): Promise<{ status: number; data: any; parts: any[] }> {
  expect(res.headers.get('content-type')).toMatch(/^multipart\/mixed/);
  const parts = (await multipartParts(res)).map((p) => p.part);
  const data = structuredClone(parts[0].data);
  for (const part of parts.slice(1))
    for (const item of part.incremental ?? []) {
      const at = (item.path as (string | number)[]).reduce((o: any, k) => o[k], data);
      Object.assign(at, item.data);
    }
  expect(parts.at(-1).hasNext).toBe(false);
  return { status: res.status, data, parts };
}

describe('@defer and the response cache', () => {
  it('a stored plain answer is not served to a multipart-only client, nor a deferred first payload to a plain one', async () => {
    const [first, second] = [
      await stack.product({ name: 'Plain first', stock: 7 }),
      await stack.product({ name: 'Deferred first', stock: 8 }),
    ];
    // Plain first, stored; then a client that accepts only multipart gets its answer (it got 406 for the entry's life).
    await untilCached('response', () => send({ query: DEFERRED, variables: { id: first.id } }, 'application/json'));
    const multipart = await assembled(await send({ query: DEFERRED, variables: { id: first.id } }, ONLY_MULTIPART));
    expect(multipart).toMatchObject({ status: 200, data: { product: { id: first.id, name: 'Plain first', stock: 7 } } });
    // Deferred first, once its product's entries may be stored (the 2 s rule, shown by another query of it
    // being cached); then a plain client gets the whole answer, never the first payload alone.
    await untilCached('response', () => stack.gql(PRODUCT, { id: second.id }));
    for (let i = 0; i < 3; i++) {
      await assembled(await send({ query: DEFERRED, variables: { id: second.id } }, ONLY_MULTIPART));
      const plain = await send({ query: DEFERRED, variables: { id: second.id } }, 'application/json');
      expect(await plain.json()).toEqual({ data: { product: { id: second.id, name: 'Deferred first', stock: 8 } } });
    }
  });
});

describe('@defer answered with a single result', () => {
  it('a multipart-only client gets it as one multipart part with the real status and code, not 406', async () => {
    const fanOut = 'products(first: 100) { edges { node { category { products(first: 100) { edges { node { id } } } } } } }';
    const costly = await send({ query: `{ categories { id } ... @defer { ${fanOut} } }` }, ONLY_MULTIPART);
    expect(costly.status).toBe(400);
    const refused = await assembled(costly);
    expect(refused.parts).toHaveLength(1);
    expect(refused.parts[0].errors.map((e: any) => e.extensions.code)).toEqual(['COST_ESTIMATED_TOO_EXPENSIVE']);

    // Authorization refuses a field inside the deferred fragment: null with its code, in the one payload.
    const denied = await send({ query: `{ categories { id } ... @defer { invoice(id: "${productId}") { status } } }` }, ONLY_MULTIPART);
    expect(denied.status).toBe(200);
    const answer = await assembled(denied);
    expect(answer.data.invoice).toBeNull();
    expect(answer.parts.flatMap((p) => p.errors ?? []).map((e: any) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
  });
});

/**
 * A real HTTP hop in front of catalog that blanks one product's non-null name, as a buggy subgraph
 * would: the gateway nulls the product and reports it in `extensions.valueCompletion`, not `errors`.
 */
async function blankingCatalog(marker: string): Promise<{ url: string; close(): Promise<void> }> {
  const target = new URL(stack.supergraph.urls.catalog);
  const server = http.createServer((req, res) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8').replaceAll(`"name":"${marker}"`, '"name":null');
          const headers = { ...answer.headers, 'content-length': String(Buffer.byteLength(body)) };
          res.writeHead(answer.statusCode ?? 502, headers).end(body);
        });
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("the gateway's own report (extensions.valueCompletion)", () => {
  it('is in every answer, the second (a cache hit before) included', async () => {
    const marker = 'Blanked by its subgraph';
    const product = await stack.product({ name: marker });
    const blanking = await blankingCatalog(marker);
    const topology = stack.topology;
    const gateway = await startExtraGateway(
      {
        ...topology,
        extra: { ...topology.extra, gateway: { ...topology.extra?.gateway, SUBGRAPH_URLS: JSON.stringify({ catalog: blanking.url }) } },
      },
      await freePort(),
    );
    try {
      // Past the 2 s rule for this product: another answer about it is stored and served.
      await untilCached('response', () => stack.gql(PRODUCT, { id: product.id }));
      const ask = async () => {
        const res = await fetch(gateway.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: 'query Blanked($id: ID!) { product(id: $id) { id name } }', variables: { id: product.id } }),
        });
        return (await res.json()) as { data: unknown; errors?: unknown; extensions?: { valueCompletion?: { message: string }[] } };
      };
      for (let i = 0; i < 3; i++) {
        const answer = await ask();
        expect(answer.data, `answer ${i}`).toEqual({ product: null });
        expect(answer.extensions?.valueCompletion?.[0]?.message ?? `none in answer ${i}`).toMatch(
          /Cannot return null for non-nullable field Product.name/,
        );
      }
    } finally {
      await gateway.close();
      await blanking.close();
    }
  });
});

describe('membership of cached lists', () => {
  const CHEAPEST =
    'query Cheapest($c: ID!) { products(filter: { categoryId: $c }, orderBy: PRICE_ASC, first: 1) { edges { node { id name } } } }';
  /** Tags the gateway dropped on events of this type so far (such an event reached it). */
  const invalidations = async (event: string) => {
    const text = await (await fetch(`${stack.supergraph.metricsUrls.gateway}/metrics`)).text();
    return Number(new RegExp(`^gateway_cache_invalidations_total\\{[^}]*event="${event}"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  };
  const cheapest = async (c: string) => (await stack.gql(CHEAPEST, { c })).data.products.edges.map((e: any) => e.node.id as string);

  it('a product whose new price moves it into a cached page is there in the next answer', async () => {
    const category = await stack.category();
    const first = await stack.product({ categoryId: category.id, priceCents: 500 });
    const other = await stack.product({ categoryId: category.id, priceCents: 900 });
    await untilCached('response', () => cheapest(category.id));
    expect(await cheapest(category.id)).toEqual([first.id]);
    const admin = await stack.admin();
    const before = await invalidations('ProductChanged');
    const changed = await stack.gql(
      'mutation($id: ID!, $i: UpdateProductInput!) { updateProduct(id: $id, input: $i) { id } }',
      { id: other.id, i: { priceCents: 1 } },
      { token: admin.token },
    );
    expect(changed.errors).toBeUndefined();
    await eventually(async () => ((await invalidations('ProductChanged')) > before ? true : undefined), { timeoutMs: 15_000 });
    // Before: the page stayed [first] for its max-age (its entry was tagged only with the product it held).
    expect(await cheapest(category.id)).toEqual([other.id]);
  });

  it('a product coming back in stock joins a cached in-stock page, an empty one included', async () => {
    const IN_STOCK = 'query InStock($c: ID!) { products(filter: { categoryId: $c, inStock: true }) { edges { node { id } } } }';
    const inStock = async (c: string) => (await stack.gql(IN_STOCK, { c })).data.products.edges.map((e: any) => e.node.id as string);
    const category = await stack.category();
    const product = await stack.product({ categoryId: category.id, stock: 0 });
    await untilCached('response', () => inStock(category.id));
    expect(await inStock(category.id)).toEqual([]);
    const admin = await stack.admin();
    const before = await invalidations('StockChanged');
    const adjusted = await stack.gql(
      'mutation($id: ID!) { adjustStock(productId: $id, delta: 3) { id } }',
      { id: product.id },
      { token: admin.token },
    );
    expect(adjusted.errors).toBeUndefined();
    await eventually(async () => ((await invalidations('StockChanged')) > before ? true : undefined), { timeoutMs: 15_000 });
    expect(await inStock(category.id)).toEqual([product.id]);
  });
});
