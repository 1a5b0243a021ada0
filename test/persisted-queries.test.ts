import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintPartnerKey } from '../gateway/identity/partner-keys.js';
import { startStack } from './support/stack.js';
import type { Stack } from './support/stack.js';

/** APQ across gateway instances, GET + Cache-Control, partner keys and safelists, through the real gateway. */

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
/** `max-age=<n>, <scope>`: a cached answer (gateway/cache/) states what is left of its max-age, so up to 10 s less. */
const freshFor = (maxAge: number, scope: string) =>
  new RegExp(`^max-age=(${Array.from({ length: 11 }, (_, i) => maxAge - i).join('|')}), ${scope}$`);
const manifest = (client: string) =>
  JSON.parse(readFileSync(new URL(`../persisted-queries/${client}.json`, import.meta.url), 'utf8')) as {
    operations: { id: string; name: string; body: string }[];
  };
const listed = (client: string, name: string) => manifest(client).operations.find((o) => o.name === name)!;
const pq = (hash: string) => ({ persistedQuery: { version: 1, sha256Hash: hash } });

interface Res {
  status: number;
  cacheControl: string | null;
  vary: string | null;
  body: { data?: any; errors?: { message: string; extensions?: { code?: string } }[] };
}

async function send(url: string, init: RequestInit): Promise<Res> {
  const res = await fetch(url, init);
  return {
    status: res.status,
    cacheControl: res.headers.get('cache-control'),
    vary: res.headers.get('vary'),
    body: (await res.json()) as Res['body'],
  };
}

const post = (url: string, payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
  send(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(payload) });

/** A GET as a CDN-fronted client sends it; Apollo's CSRF rule wants a preflight-forcing header. */
function get(
  url: string,
  params: { extensions?: object; variables?: object; operationName?: string; query?: string },
  headers: Record<string, string> = { 'apollo-require-preflight': 'true' },
) {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  return send(u.toString(), { headers });
}

const code = (r: Res) => r.body.errors?.[0]?.extensions?.code;

let stack: Stack;
let other: { url: string };
let redis: Redis;
const partner = mintPartnerKey('acme-partner');
const revoked = mintPartnerKey('acme-partner');

beforeAll(async () => {
  stack = await startStack({
    extra: {
      gateway: {
        APQ_TTL_SECONDS: '600',
        PARTNER_API_KEYS: JSON.stringify([partner.entry, { ...revoked.entry, revoked: true }]),
        SAFELIST_MODES: JSON.stringify({ 'ios-app': 'enforce', web: 'audit' }),
      },
    },
  });
  other = await stack.extraGateway();
  redis = new Redis(stack.redisUrl!);
});

afterAll(async () => {
  redis?.disconnect();
  await stack?.close();
});

describe('automatic persisted queries', () => {
  const query = 'query ApqCatalog($first: Int) { products(first: $first) { edges { node { id name price { amountCents } } } } }';
  const hash = sha256(query);

  it('misses, registers and then hits by hash on another gateway instance, kept in Redis with the TTL', async () => {
    await stack.product({ name: 'APQ product' });
    const miss = await post(stack.url, { extensions: pq(hash), variables: { first: 5 } });
    expect(code(miss)).toBe('PERSISTED_QUERY_NOT_FOUND');

    const register = await post(stack.url, { query, extensions: pq(hash), variables: { first: 5 } });
    expect(register.body.errors).toBeUndefined();
    expect(register.body.data.products.edges.length).toBeGreaterThan(0);

    const ttl = await redis.ttl(`${stack.eventNamespace}apq:${hash}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600);

    const hit = await post(other.url, { extensions: pq(hash), variables: { first: 5 } });
    expect(hit.body).toEqual(register.body);
  });

  it('serves GET by hash with Cache-Control from the @cacheControl hints; POST and signed-in callers are not shared-cacheable', async () => {
    const params = { extensions: pq(hash), variables: { first: 5 }, operationName: 'ApqCatalog' };
    const anonymous = await get(other.url, params);
    expect(anonymous.status).toBe(200);
    expect(anonymous.body.data.products.edges.length).toBeGreaterThan(0);
    // Query.products is hinted 60 s, Product 120 s: the strictest wins.
    expect(anonymous.cacheControl).toMatch(freshFor(60, 'public'));

    const customer = await stack.customer();
    const signedIn = await get(other.url, params, { 'apollo-require-preflight': 'true', authorization: `Bearer ${customer.token}` });
    expect(signedIn.cacheControl).toMatch(freshFor(60, 'private'));

    const viaPost = await post(other.url, { extensions: pq(hash), variables: { first: 5 } });
    expect(viaPost.cacheControl).toBe('no-store');

    // CSRF prevention stays on: a GET without a preflight-forcing header is refused.
    const simple = await get(other.url, params, {});
    expect(simple.status).toBe(400);
    expect(simple.body.data).toBeUndefined();
  });

  it('a text that does not match its hash is 400 PERSISTED_QUERY_HASH_MISMATCH (the code Apollo Router and its clients use)', async () => {
    const mismatch = await post(stack.url, { query: '{ categories { id } }', extensions: pq(hash) });
    expect(mismatch.status).toBe(400);
    expect(code(mismatch)).toBe('PERSISTED_QUERY_HASH_MISMATCH');
    expect(mismatch.body.errors![0]!.message).toBe('provided sha does not match query');
    expect(mismatch.body.data).toBeUndefined();
  });

  it('a shared-cacheable answer says what it varies on (Accept, Authorization, Origin), so a CDN keys on them', async () => {
    const shelf = 'query VaryShelf { categories { id name } }';
    const params = { extensions: pq(sha256(shelf)), operationName: 'VaryShelf' };
    await post(stack.url, { query: shelf, ...params });
    const anonymous = await get(stack.url, params);
    expect(anonymous.cacheControl).toMatch(freshFor(300, 'public'));
    const varies = (anonymous.vary ?? '').split(',').map((v) => v.trim().toLowerCase());
    expect(varies).toEqual(expect.arrayContaining(['accept', 'authorization', 'origin']));
    // The second read comes from the gateway's response cache: the same header.
    const again = await get(stack.url, params);
    expect((again.vary ?? '').toLowerCase()).toBe((anonymous.vary ?? '').toLowerCase());
  });

  it('never lets user data be cached publicly', async () => {
    const customer = await stack.customer('Cache Me Not');
    const auth = { authorization: `Bearer ${customer.token}` };
    const me = 'query MeForCache { me { id name email } }';
    await post(stack.url, { query: me, extensions: pq(sha256(me)) }, auth);
    const res = await get(other.url, { extensions: pq(sha256(me)) }, { 'apollo-require-preflight': 'true', ...auth });
    expect(res.body.data.me.name).toBe('Cache Me Not');
    expect(res.cacheControl).toMatch(/^(no-store|max-age=\d+, private)$/);

    // Orders and invoices carry a private max-age for the gateway's own per-caller cache (events keep
    // it exact); a browser or proxy is never told it may keep them.
    const orders = 'query OrdersForCache { me { orders(first: 1) { edges { node { id status invoice { status } } } } } }';
    await post(stack.url, { query: orders, extensions: pq(sha256(orders)) }, auth);
    const ordersRes = await get(stack.url, { extensions: pq(sha256(orders)) }, { 'apollo-require-preflight': 'true', ...auth });
    expect(ordersRes.body.errors).toBeUndefined();
    expect(ordersRes.cacheControl).toBe('no-store');

    // Catalog and user data in one response: the user part makes the whole response uncacheable.
    const mixed = 'query Mixed { me { name } categories { name } }';
    await post(stack.url, { query: mixed, extensions: pq(sha256(mixed)) }, auth);
    const mixedRes = await get(stack.url, { extensions: pq(sha256(mixed)) }, { 'apollo-require-preflight': 'true', ...auth });
    expect(mixedRes.cacheControl).toBe('no-store');
  });
});

describe('partners: API key and manifest', () => {
  const key = { 'x-api-key': partner.key };

  it('runs a listed operation by id, without its text, over POST and GET', async () => {
    const product = await stack.product({ name: 'Partner product' });
    const bySku = listed('acme-partner', 'ProductBySku');
    const res = await post(stack.url, { extensions: pq(bySku.id), variables: { sku: product.sku } }, key);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.productBySku).toMatchObject({ id: product.id, name: 'Partner product' });

    const storefront = listed('acme-partner', 'Storefront');
    const viaGet = await get(
      other.url,
      { extensions: pq(storefront.id), variables: { first: 3 } },
      { ...key, 'x-apollo-operation-name': 'Storefront' },
    );
    expect(viaGet.status).toBe(200);
    expect(viaGet.body.data.products.edges[0].node.shippingEstimate.amountCents).toBeGreaterThanOrEqual(0);
    // A partner's responses stay out of shared caches: a CDN must not answer for an API key it never checked.
    expect(viaGet.cacheControl).toMatch(freshFor(60, 'private'));
  });

  it('refuses anything else with PERSISTED_QUERY_NOT_IN_LIST', async () => {
    const unknownId = await post(stack.url, { extensions: pq(sha256('query Other { categories { id } }')) }, key);
    expect(unknownId.status).toBe(404);
    expect(code(unknownId)).toBe('PERSISTED_QUERY_NOT_IN_LIST');

    const freeform = await post(stack.url, { query: '{ categories { id name } }' }, key);
    expect(freeform.status).toBe(403);
    expect(code(freeform)).toBe('PERSISTED_QUERY_NOT_IN_LIST');
    expect(freeform.body.data).toBeUndefined();

    // A listed id cannot carry other text: Apollo checks the hash against the text.
    const smuggled = await post(
      stack.url,
      { query: '{ users { edges { node { email } } } }', extensions: pq(listed('acme-partner', 'Storefront').id) },
      key,
    );
    expect(smuggled.status).toBe(400);
    expect(code(smuggled)).toBe('PERSISTED_QUERY_HASH_MISMATCH');
    expect(smuggled.body.data).toBeUndefined();
  });

  it('refuses an unknown or revoked key with 401 before running anything', async () => {
    const storefront = { extensions: pq(listed('acme-partner', 'Storefront').id) };
    for (const apiKey of [revoked.key, 'pk_not-a-real-key', '']) {
      const res = await post(stack.url, storefront, { 'x-api-key': apiKey });
      expect(res.status).toBe(401);
      expect(code(res)).toBe('UNAUTHENTICATED');
      expect(res.body.data).toBeUndefined();
    }
  });
});

describe('first-party safelist modes', () => {
  const arbitrary = '{ categories { id name } }';

  it('enforce: an unlisted operation is refused, a listed one runs by id', async () => {
    const headers = { 'apollographql-client-name': 'ios-app', 'apollographql-client-version': '3.2.1' };
    const refused = await post(stack.url, { query: arbitrary }, headers);
    expect(refused.status).toBe(403);
    expect(code(refused)).toBe('PERSISTED_QUERY_NOT_IN_LIST');

    const storefront = listed('ios-app', 'Storefront');
    const ok = await get(
      stack.url,
      { extensions: pq(storefront.id), variables: { first: 2 } },
      { ...headers, 'apollo-require-preflight': 'true' },
    );
    expect(ok.body.errors).toBeUndefined();
    expect(ok.cacheControl).toMatch(freshFor(60, 'public'));
  });

  it('audit: an unlisted operation runs (and is logged); unnamed clients are not restricted', async () => {
    const audited = await post(stack.url, { query: arbitrary }, { 'apollographql-client-name': 'web' });
    expect(audited.body.errors).toBeUndefined();
    expect(Array.isArray(audited.body.data.categories)).toBe(true);

    const unnamed = await post(stack.url, { query: arbitrary });
    expect(unnamed.body.errors).toBeUndefined();
  });
});

describe('embedded mode (no Redis)', () => {
  let embedded: Stack;
  beforeAll(async () => {
    embedded = await startStack({ bus: 'memory' });
  });
  afterAll(async () => {
    await embedded?.close();
  });

  it('keeps APQ in memory: miss, register, hit', async () => {
    const query = '{ categories { id } }';
    const ext = pq(sha256(query));
    expect(code(await post(embedded.url, { extensions: ext }))).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect((await post(embedded.url, { query, extensions: ext })).body.errors).toBeUndefined();
    const hit = await get(embedded.url, { extensions: ext });
    expect(hit.body.data.categories).toEqual([]);
    expect(hit.cacheControl).toMatch(freshFor(300, 'public'));
  });
});
