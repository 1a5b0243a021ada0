import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintPartnerKey } from '../gateway/identity/partner-keys.js';
import { startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/**
 * Request rate limits per IP / user / partner key and partners' cost budgets, through real
 * gateways sharing one Redis. Every test client is 127.0.0.1, which the default TRUST_PROXY
 * (loopback) lets name the client in X-Forwarded-For: each test plays its own addresses.
 */

const LIMIT = 5;
const BUDGET = 1000;
const partner = mintPartnerKey('acme-partner');
const otherPartner = mintPartnerKey('acme-partner');
const listed = (name: string) =>
  (
    JSON.parse(readFileSync(new URL('../persisted-queries/acme-partner.json', import.meta.url), 'utf8')) as {
      operations: { id: string; name: string }[];
    }
  ).operations.find((o) => o.name === name)!.id;

let stack: Stack;
let other: { url: string };
let ann: TestUser;
let bob: TestUser;
let categoryId: string;
let sku: string;

beforeAll(async () => {
  stack = await startStack({
    extra: {
      gateway: {
        RATE_LIMIT_ANONYMOUS: String(LIMIT),
        RATE_LIMIT_USER: String(LIMIT),
        RATE_LIMIT_PARTNER: '8',
        RATE_LIMIT_WINDOW_SECONDS: '60',
        PARTNER_COST_BUDGET_PER_MINUTE: String(BUDGET),
        PARTNER_API_KEYS: JSON.stringify([partner.entry, otherPartner.entry]),
      },
    },
  });
  other = await stack.extraGateway();
  // Set-up traffic is 127.0.0.1's (anonymous sign-ups) and the fixture admin's: neither is used below.
  [ann, bob] = [await stack.customer('Ann'), await stack.customer('Bob')];
  const category = await stack.category();
  categoryId = category.id;
  sku = (await stack.product({ categoryId })).sku;
});
afterAll(() => stack?.close());

interface Res {
  status: number;
  retryAfter: string | null;
  rateLimit: string | null;
  rateLimitPolicy: string | null;
  body: { data?: any; errors?: { message: string; extensions?: Record<string, any> }[]; extensions?: Record<string, any> };
}

async function post(payload: object, headers: Record<string, string> = {}, url = stack.url): Promise<Res> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(payload),
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    rateLimit: res.headers.get('ratelimit'),
    rateLimitPolicy: res.headers.get('ratelimit-policy'),
    body: (await res.json()) as Res['body'],
  };
}
const from = (ip: string, token?: string) => ({ 'x-forwarded-for': ip, ...(token ? { authorization: `Bearer ${token}` } : {}) });
const CATEGORIES = { query: '{ categories { id } }' };

function expectRateLimited(res: Res, maxSeconds: number) {
  expect(res.status).toBe(429);
  expect(res.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
  const seconds = Number(res.retryAfter);
  expect(Number.isInteger(seconds) && seconds >= 1 && seconds <= maxSeconds).toBe(true);
  expect(res.body.errors![0]!.extensions!.retryAfterSeconds).toBe(seconds);
  // IETF RateLimit headers: nothing left, and the reset is the Retry-After.
  if (res.rateLimit !== null) {
    expect(res.rateLimit).toMatch(new RegExp(`^"\\w+";r=0;t=${seconds}$`));
    expect(res.rateLimitPolicy).toMatch(/^"\w+";q=\d+;w=\d+$/);
  }
}

describe('request rate limits', () => {
  it('the request after the limit from one anonymous IP is 429 RATE_LIMITED with Retry-After; other IPs go on', async () => {
    for (let i = 0; i < LIMIT; i++) {
      const ok = await post(CATEGORIES, from('203.0.113.1'));
      expect(ok.status).toBe(200);
      expect(ok.rateLimitPolicy).toBe(`"ip";q=${LIMIT};w=60`);
      expect(ok.rateLimit).toMatch(new RegExp(`^"ip";r=${LIMIT - 1 - i};t=\\d+$`));
    }
    const refused = await post(CATEGORIES, from('203.0.113.1'));
    expectRateLimited(refused, 60);
    expect(refused.rateLimit).toMatch(/^"ip";r=0;t=\d+$/);
    // Refused at the door: even a document that would not parse gets the 429, not a 400.
    expect((await post({ query: '{ nope' }, from('203.0.113.1'))).status).toBe(429);
    expect((await post(CATEGORIES, from('203.0.113.2'))).status).toBe(200);
  });

  it("a signed-in user is counted per user, whatever the IP: independent of the IP's anonymous count", async () => {
    const ip = '203.0.113.10';
    for (let i = 0; i < LIMIT; i++) await post(CATEGORIES, from(ip));
    expect((await post(CATEGORIES, from(ip))).status).toBe(429);
    // Same address, Ann's token: her own count.
    for (let i = 0; i < LIMIT; i++) expect((await post({ query: '{ me { id } }' }, from(ip, ann.token))).status).toBe(200);
    // Moving to another address does not reset it.
    expectRateLimited(await post({ query: '{ me { id } }' }, from('203.0.113.11', ann.token)), 60);
    expect((await post({ query: '{ me { id } }' }, from(ip, bob.token))).body.data.me.id).toBe(bob.id);
  });

  it('a bad token does not buy a fresh bucket: it counts against its IP, and is still 401', async () => {
    const ip = '203.0.113.20';
    for (let i = 0; i < LIMIT; i++) expect((await post(CATEGORIES, from(ip, 'not-a-jwt'))).status).toBe(401);
    expectRateLimited(await post(CATEGORIES, from(ip, 'another-forged-token')), 60);
  });

  it('counters are shared by every gateway instance (Redis)', async () => {
    const ip = '203.0.113.30';
    for (let i = 0; i < LIMIT; i++) expect((await post(CATEGORIES, from(ip), i % 2 ? other.url : stack.url)).status).toBe(200);
    expectRateLimited(await post(CATEGORIES, from(ip), other.url), 60);
    expectRateLimited(await post(CATEGORIES, from(ip), stack.url), 60);
  });

  it('operations over a WebSocket are counted like HTTP requests from the same address', async () => {
    class ForwardedWebSocket extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers: { 'x-forwarded-for': '203.0.113.40' } });
      }
    }
    const client = createClient({ url: stack.url.replace(/^http/, 'ws'), webSocketImpl: ForwardedWebSocket, retryAttempts: 0 });
    try {
      const run = () =>
        new Promise<{ errors?: readonly { extensions?: Record<string, unknown> }[] }>((resolve) => {
          let result: { errors?: readonly { extensions?: Record<string, unknown> }[] } = {};
          client.subscribe(CATEGORIES, {
            next: (r) => (result = r),
            error: (e) => resolve({ errors: e as never }),
            complete: () => resolve(result),
          });
        });
      for (let i = 0; i < LIMIT - 1; i++) expect((await run()).errors).toBeUndefined();
      expect((await post(CATEGORIES, from('203.0.113.40'))).status).toBe(200);
      expect((await run()).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    } finally {
      await client.dispose();
    }
  });
});

describe('partners', () => {
  const byId = (name: string, variables: object) => ({
    extensions: { persistedQuery: { version: 1, sha256Hash: listed(name) } },
    variables,
  });

  it("each operation reports its static cost and what is left of the key's budget for the minute", async () => {
    const res = await post(byId('ProductBySku', { sku }), { 'x-api-key': otherPartner.key });
    expect(res.status).toBe(200);
    expect(res.body.data.productBySku.sku).toBe(sku);
    // productBySku 1 + price 1 + category 1
    expect(res.body.extensions?.cost).toEqual({
      estimated: 3,
      budget: { perMinute: BUDGET, remaining: BUDGET - 3, resetSeconds: expect.any(Number) },
    });
  });

  it('expensive operations run out the budget on every instance: 429 RATE_LIMITED with Retry-After', async () => {
    const page = byId('ProductsByCategory', { categoryId, first: 100 });
    const key = { 'x-api-key': partner.key };
    // 5 + 100 × (edge + node + price) + pageInfo = 306 each: three fit in 1,000, on either gateway.
    const spent = [await post(page, key), await post(page, key, other.url), await post(page, key)];
    expect(spent.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(spent.map((r) => r.body.extensions?.cost.budget.remaining)).toEqual([694, 388, 82]);
    for (const url of [stack.url, other.url]) {
      const refused = await post(page, key, url);
      expectRateLimited(refused, 60);
      expect(refused.body.errors![0]!.message).toMatch(/cost budget/);
    }
    // A cheap operation still fits in what is left.
    expect((await post(byId('ProductBySku', { sku }), key)).status).toBe(200);
  });

  it("an operation bigger than a whole minute's budget could never run: 400 COST_ESTIMATED_TOO_EXPENSIVE, not a 429, and nothing spent", async () => {
    const key = { 'x-api-key': otherPartner.key };
    const tooBig = await post(byId('ProductsByCategory', { categoryId, first: 400 }), key);
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.errors?.[0]?.extensions).toMatchObject({
      code: 'COST_ESTIMATED_TOO_EXPENSIVE',
      cost: 1206,
      budgetPerMinute: BUDGET,
    });
    expect((await post(byId('ProductBySku', { sku }), key)).body.extensions?.cost.budget.remaining).toBe(BUDGET - 6);
  });

  it('a partner key also has a request count per window', async () => {
    // otherPartner has sent 3 requests above; its 8 per window run out here.
    const key = { 'x-api-key': otherPartner.key };
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await post(byId('ProductBySku', { sku }), key)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  });
});
