import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsistency } from '../gateway/consistency.js';
import { mintPartnerKey } from '../gateway/identity/partner-keys.js';
import { createRedisUsageStore } from '../gateway/usage/index.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/**
 * The response cache's hits at wire speed (gateway/cache/edge-hits.ts): a request the response
 * cache can answer is answered right after the edge, from memory, and the answer is the pipeline's
 * to the byte, with its headers; a partner's budget, telemetry and field usage count it as they
 * count any request; whoever the pipeline must serve (signed in, reading its own writes) is never
 * answered there. They are answered on plain node:http in front of express (gateway/cache/hit-lane.ts),
 * so what express adds to an answer (ETag and 304, CORS, the edge counted once) is checked too.
 * Real gateway, subgraphs, Postgres and Redis.
 */

let stack: Stack;
let admin: TestUser;
let redis: Redis;
const partner = mintPartnerKey('acme-partner');
const BUDGET = 100_000;
const ORIGIN = 'https://shop.example';

beforeAll(async () => {
  stack = await startStack({
    extra: {
      gateway: {
        PARTNER_API_KEYS: JSON.stringify([partner.entry]),
        PARTNER_COST_BUDGET_PER_MINUTE: String(BUDGET),
        USAGE_FLUSH_MS: '200',
        CORS_ORIGINS: ORIGIN,
      },
    },
  });
  admin = await stack.admin();
  redis = new Redis(stack.redisUrl!);
}, 120_000);
afterAll(async () => {
  redis?.disconnect();
  await stack?.close();
});

const PRODUCT = 'query EdgeHitProduct($id: ID!) { product(id: $id) { id name stock price { amountCents } } }';
const ADJUST = 'mutation EdgeHitAdjust($id: ID!, $d: Int!) { adjustStock(productId: $id, delta: $d) { id stock } }';

async function metrics(): Promise<string> {
  return (await fetch(`${stack.supergraph.metricsUrls.gateway}/metrics`)).text();
}
/** The sum of a counter's series whose labels include every one of `labels`. */
async function counter(name: string, ...labels: string[]): Promise<number> {
  return (await metrics())
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}
const edgeHits = () => counter('gateway_response_cache_total', 'result="hit"', 'path="edge"');

interface Raw {
  status: number;
  headers: Headers;
  text: string;
}
async function post(body: object, headers: Record<string, string> = {}): Promise<Raw> {
  const res = await fetch(stack.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}
async function get(params: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Raw> {
  const url = new URL(stack.url);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  const res = await fetch(url, { headers: { 'apollo-require-preflight': 'true', ...headers } });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** A valid read-your-writes token, as any gateway of this deployment hands one out after a write to catalog. */
function ownWritesToken(): string {
  const state = createConsistency({
    CONSISTENCY_COOKIE: 'false',
    CONSISTENCY_TOKEN_TTL_SECONDS: 300,
    NODE_ENV: 'test',
    CONSISTENCY_TOKEN_SECRETS: [],
    SERVICE_PRIVATE_JWK: stack.keys.services.gateway,
  } as never).fromRequest({ headers: {} } as never);
  state.absorb('catalog:0/1');
  return state.newToken!;
}

/** Sends until one answer came from the edge (the entry is written after the first answer, and the 2 s rule may refuse it). */
async function untilEdgeHit(send: () => Promise<Raw>): Promise<Raw> {
  return eventually(async () => {
    const before = await edgeHits();
    const res = await send();
    return (await edgeHits()) > before ? res : undefined;
  });
}

describe('response cache hits at the edge', () => {
  it("answers a POST and a GET from memory with the pipeline's bytes and headers", async () => {
    const { id } = await stack.product({ stock: 12 });
    const body = { query: PRODUCT, variables: { id } };
    const first = await post(body);
    const hit = await untilEdgeHit(() => post(body));
    expect(hit.status).toBe(200);
    expect(hit.text).toBe(first.text);
    for (const name of ['content-type', 'cache-control', 'vary']) expect(hit.headers.get(name), name).toBe(first.headers.get(name));
    expect(hit.headers.get('cache-control')).toBe('no-store'); // a POST is never stored by HTTP caches
    expect(hit.headers.get('x-request-id')).toMatch(/[\w-]{8,}/);

    // Apollo Client's Accept, over GET: the same negotiation, a shared max-age no longer than the subgraphs'.
    const accept = { accept: 'application/graphql-response+json,application/json;q=0.9' };
    const firstGet = await get({ query: PRODUCT, variables: { id } }, accept);
    const getHit = await untilEdgeHit(() => get({ query: PRODUCT, variables: { id } }, accept));
    expect(getHit.text).toBe(firstGet.text);
    expect(getHit.headers.get('content-type')).toBe('application/graphql-response+json; charset=utf-8');
    expect(getHit.headers.get('content-type')).toBe(firstGet.headers.get('content-type'));
    const maxAge = (r: Raw) => Number(/^max-age=(\d+), public$/.exec(r.headers.get('cache-control') ?? '')?.[1]);
    expect(maxAge(getHit)).toBeGreaterThan(0);
    expect(maxAge(getHit)).toBeLessThanOrEqual(maxAge(firstGet));
  }, 90_000);

  it('an event drops the entry at once: the next answer carries the change', async () => {
    const { id } = await stack.product({ stock: 30 });
    const body = { query: PRODUCT, variables: { id } };
    await untilEdgeHit(() => post(body));
    const changed = await stack.gql(ADJUST, { id, d: -4 }, { token: admin.token });
    expect(changed.errors).toBeUndefined();
    // The gateway hears the StockChanged event; from then on no answer may say 30.
    await eventually(async () => {
      const res = JSON.parse((await post(body)).text) as { data: { product: { stock: number } } };
      return res.data.product.stock === 26 ? true : undefined;
    });
    const again = await untilEdgeHit(() => post(body));
    expect(JSON.parse(again.text).data.product.stock).toBe(26);
  }, 90_000);

  it('twins of a miss wait for it: a hot entry an event dropped is recomputed once, and every twin gets the change', async () => {
    const { id } = await stack.product({ stock: 40 });
    const body = { query: PRODUCT, variables: { id } };
    // Another operation on the same product: it tells when the event has been heard, and when the
    // 2 s that follow it (in which an answer read on a replica is not stored) are over, without
    // asking `body` again.
    const probe = { query: 'query EdgeHitStock($id: ID!) { product(id: $id) { stock } }', variables: { id } };
    await untilEdgeHit(() => post(body));
    await untilEdgeHit(() => post(probe));
    expect((await stack.gql(ADJUST, { id, d: -3 }, { token: admin.token })).errors).toBeUndefined();
    await eventually(async () => {
      const hit = await untilEdgeHit(() => post(probe));
      return JSON.parse(hit.text).data.product.stock === 37 ? true : undefined;
    });
    const misses = () => counter('gateway_response_cache_total', 'result="miss"', 'path="pipeline"');
    const before = await misses();
    const answers = await Promise.all(Array.from({ length: 8 }, () => post(body)));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(JSON.parse(a.text).data.product.stock).toBe(37);
    }
    expect(await misses()).toBe(before + 1);
  }, 90_000);

  it('charges a partner its cost budget, and counts telemetry and field usage, for every edge hit', async () => {
    const listed = (
      JSON.parse(readFileSync(new URL('../persisted-queries/acme-partner.json', import.meta.url), 'utf8')) as {
        operations: { id: string; name: string; body: string }[];
      }
    ).operations.find((o) => o.name === 'ProductBySku')!;
    const { sku } = await stack.product({ stock: 8 });
    const body = { extensions: { persistedQuery: { version: 1, sha256Hash: listed.id } }, variables: { sku } };
    const headers = { 'x-api-key': partner.key };
    let sent = 0;
    const ask = () => (sent++, post(body, headers));
    const first = await ask();
    const firstCost = JSON.parse(first.text).extensions.cost as { estimated: number; budget: { remaining: number } };
    expect(firstCost.estimated).toBeGreaterThan(0);
    const hit = await untilEdgeHit(ask);
    const requests = await counter('graphql_requests_total', 'operation="ProductBySku"', 'client="acme-partner"');
    const next = await untilEdgeHit(ask);
    const cost = (r: Raw) => JSON.parse(r.text).extensions.cost as { estimated: number; budget: { remaining: number; perMinute: number } };
    expect(cost(next).estimated).toBe(firstCost.estimated);
    expect(cost(next).budget.perMinute).toBe(BUDGET);
    // Charged, as the pipeline charges: the budget left goes down by the cost (the minute may roll over: then it is full less one cost).
    const spent = cost(hit).budget.remaining - cost(next).budget.remaining;
    expect(spent === firstCost.estimated || cost(next).budget.remaining === BUDGET - firstCost.estimated).toBe(true);
    expect(JSON.parse(next.text).data).toEqual(JSON.parse(first.text).data);
    expect(next.headers.get('cache-control')).toBe('no-store');
    expect(await counter('graphql_requests_total', 'operation="ProductBySku"', 'client="acme-partner"')).toBeGreaterThan(requests);
    // Field usage: every request this partner sent is one use of Query.productBySku, whichever path answered it.
    const usage = createRedisUsageStore(redis, `${stack.eventNamespace}usage:`, 30);
    await eventually(async () => {
      const uses = (await usage.read({ days: 1, coordinate: 'Query.productBySku' }))
        .filter((e) => e.client === 'acme-partner')
        .reduce((n, e) => n + e.count, 0);
      return uses === sent ? true : undefined;
    });
  }, 90_000);

  it('never answers a signed-in caller or one reading its own writes there', async () => {
    const customer = await stack.customer();
    const { id } = await stack.product({ stock: 5 });
    const body = { query: PRODUCT, variables: { id } };
    await untilEdgeHit(() => post(body));
    const before = await edgeHits();
    for (let i = 0; i < 3; i++) expect((await post(body, { authorization: `Bearer ${customer.token}` })).status).toBe(200);
    // A valid consistency token (as any gateway of this deployment hands one out after a write): the read must reach the subgraphs.
    expect((await post(body, { 'x-consistency-token': ownWritesToken() })).status).toBe(200);
    expect(await edgeHits()).toBe(before);
  }, 90_000);

  it('answers as the express stack does: ETag and 304 for a GET, CORS for a listed origin, request counts once, body errors alike', async () => {
    const { id } = await stack.product({ stock: 9 });
    const params = { query: PRODUCT, variables: { id } };
    const firstGet = await get(params);
    const getHit = await untilEdgeHit(() => get(params));
    expect(getHit.headers.get('etag')).toMatch(/^W\/"/);
    expect(getHit.headers.get('etag')).toBe(firstGet.headers.get('etag'));
    const before = await edgeHits();
    // A revalidation as a browser's cache sends it (fetch would add `cache-control: no-cache`, which asks for the whole answer).
    const revalidated = await get(params, { 'if-none-match': getHit.headers.get('etag')!, 'cache-control': 'max-age=0' });
    expect(revalidated.status).toBe(304);
    expect(revalidated.text).toBe('');
    expect(await edgeHits()).toBe(before + 1);

    // A listed origin: the hit carries the CORS headers the pipeline's answer carries.
    const body = { query: PRODUCT, variables: { id } };
    const origin = { origin: ORIGIN };
    const first = await post(body, origin);
    const hit = await untilEdgeHit(() => post(body, origin));
    expect(hit.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    for (const name of ['access-control-allow-origin', 'access-control-expose-headers', 'vary'])
      expect(hit.headers.get(name), name).toBe(first.headers.get(name));

    // Admitted in front of express, then answered by the pipeline (a caller reading its own writes):
    // its request is counted once, so the address's budget goes down by one a request, as for a hit.
    const left = (r: Raw) => Number(/;r=(\d+)/.exec(r.headers.get('ratelimit') ?? '')?.[1]);
    const own = { 'x-consistency-token': ownWritesToken() };
    const counts = [left(await post(body, own)), left(await post(body, own)), left(await post(body)), left(await post(body, own))];
    expect(counts.every(Number.isFinite)).toBe(true);
    // Each request one less than the one before (a new window may start between them: then it is full again).
    for (let i = 1; i < counts.length; i++) expect(counts[i] === counts[i - 1]! - 1 || counts[i]! > counts[i - 1]!).toBe(true);

    // Bodies refused in front of express, with express's errors.
    const raw = async (text: string) => {
      const res = await fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
      return { status: res.status, body: (await res.json()) as { errors: { message: string; extensions: { code: string } }[] } };
    };
    const broken = await raw('{"query": ');
    expect(broken.status).toBe(400);
    expect(broken.body.errors[0]).toEqual({ message: 'Request body is not valid JSON.', extensions: { code: 'BAD_REQUEST' } });
    expect((await raw('  ')).body.errors[0]!.message).toBe('Request body is not valid JSON.');
    // A byte order mark before the JSON is dropped, as body-parser drops it: the request is answered.
    const bom = await raw('\ufeff' + JSON.stringify(body));
    expect(bom.status).toBe(200);
    const deep = await raw(JSON.stringify({ query: PRODUCT, variables: { id: JSON.parse('['.repeat(200) + ']'.repeat(200)) } }));
    expect(deep.status).toBe(400);
    expect(deep.body.errors[0]!.message).toMatch(/^Request body is JSON nested deeper than \d+ levels\.$/);
  }, 90_000);
});
