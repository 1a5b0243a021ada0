import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../platform/paths.js';
import { createClient as createSseClient } from 'graphql-sse';
import { SignJWT, importJWK } from 'jose';
import { eventStreamStats } from '../gateway/subscriptions/event-stream.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';
import { apolloHttpClient, errorCodes } from './support/http-subscriptions.js';
import { wsClient } from './support/ws-client.js';

/**
 * Subscriptions over plain HTTP through the real gateway: Apollo Client 4's HttpLink (Apollo's
 * multipart protocol) and the graphql-sse client (SSE). Same events, rules and codes as graphql-ws.
 */
let stack: Stack;
let admin: TestUser;
let productId: string;
const clients: { stop(): void }[] = [];
const apollo = (token?: string) => {
  const c = apolloHttpClient(stack.url, token);
  clients.push(c);
  return c;
};
const HEARTBEAT_MS = 200;
// Node's request timeout covers receiving the request, not a long response: streams outlive it.
// Every request of this file runs under it (headers included), so it leaves room for a loaded
// machine: at 1 s, a process not scheduled for a second between accepting a connection and
// reading its bytes answered an ordinary sign-up 408 with an empty body.
const REQUEST_TIMEOUT_MS = 5_000;

// A client whose manifest lists a subscription, sent by id alone.
const WATCH_BODY = 'subscription Watch($p: ID!) { stockChanged(productId: $p) { id stock } }';
const WATCH_ID = createHash('sha256').update(WATCH_BODY).digest('hex');

beforeAll(async () => {
  const manifests = await mkdtemp(path.join(os.tmpdir(), 'http-sub-pq-'));
  await copyFile(path.join(ROOT, 'persisted-queries/ios-app.json'), path.join(manifests, 'ios-app.json'));
  const watch = {
    format: 'apollo-persisted-query-manifest',
    version: 1,
    operations: [{ id: WATCH_ID, name: 'Watch', type: 'subscription', body: WATCH_BODY }],
  };
  await writeFile(path.join(manifests, 'watch-app.json'), JSON.stringify(watch));
  stack = await startStack({
    // ios-app and watch-app are held to their manifests (ios-app's lists no subscription); other clients are not.
    extra: {
      gateway: {
        SUBSCRIPTION_HEARTBEAT_MS: String(HEARTBEAT_MS),
        HTTP_SUBSCRIPTIONS_MAX_PER_USER: '2',
        HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        SAFELIST_MODES: '{"ios-app":"enforce","watch-app":"enforce"}',
        PERSISTED_QUERIES_DIR: manifests,
      },
    },
  });
  admin = await stack.admin();
  productId = (await stack.product({ stock: 10_000, priceCents: 2500 })).id;
}, 120_000);
afterAll(async () => {
  clients.forEach((c) => c.stop());
  await stack?.close();
});

const streamsOpen = (n: number) => eventually(async () => (eventStreamStats.open >= n ? true : undefined));

let keySeq = 0;
async function placeOrder(customer: TestUser): Promise<{ id: string; number: number }> {
  const res = await stack.gql(
    `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id number } }`,
    { input: { items: [{ productId, quantity: 1 }], idempotencyKey: `http-sub-${keySeq++}-${Date.now()}` } },
    { token: customer.token },
  );
  if (!res.data?.placeOrder) throw new Error(JSON.stringify(res.errors));
  return res.data.placeOrder;
}

const ORDER_EVENTS = `subscription($after: String) { orderStatusChanged(after: $after) { id number status customer { name } items { product { name } } } }`;

describe('subscriptions over HTTP multipart (Apollo Client 4 HttpLink)', () => {
  it('delivers an event caused by a mutation, with fields from other subgraphs and its eventId', async () => {
    const customer = await stack.customer('Multipart Fan');
    const base = eventStreamStats.open;
    const sub = apollo(customer.token).subscribe(ORDER_EVENTS);
    await streamsOpen(base + 1);
    const order = await placeOrder(customer);
    const first = await sub.nth(1);
    expect(first.error).toBeUndefined();
    expect(first.data.orderStatusChanged).toMatchObject({
      id: order.id,
      number: order.number,
      status: 'PENDING_PAYMENT',
      customer: { name: 'Multipart Fan' },
    });
    expect(first.data.orderStatusChanged.items[0].product.name).toEqual(expect.any(String));
    expect(first.extensions?.eventId).toMatch(/^\d+-\d+$/);
    sub.stop();
  });

  it('resumes with after: the events missed while away, in order, then live ones', async () => {
    const customer = await stack.customer();
    const base = eventStreamStats.open;
    const first = apollo(customer.token).subscribe(ORDER_EVENTS);
    await streamsOpen(base + 1);
    await placeOrder(customer);
    const seen = await first.nth(1);
    first.stop();
    await eventually(async () => (eventStreamStats.open <= base ? true : undefined));
    const missed = [await placeOrder(customer), await placeOrder(customer)];
    const resumed = apollo(customer.token).subscribe(ORDER_EVENTS, { after: seen.extensions!.eventId });
    await resumed.nth(2);
    const live = await placeOrder(customer);
    await resumed.nth(3);
    expect(resumed.results.map((r) => r.data.orderStatusChanged.id)).toEqual([...missed.map((o) => o.id), live.id]);
    resumed.stop();
  });

  it('refuses an anonymous order subscription with the same code as the WebSocket', async () => {
    const overHttp = await apollo().subscribe('subscription { orderStatusChanged { id } }').nth(1);
    const ws = wsClient(stack.url);
    try {
      const overWs = await ws.subscribe('subscription { orderStatusChanged { id } }').nth(1);
      expect(overWs.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(errorCodes(overHttp)).toEqual(['UNAUTHENTICATED']);
      expect(overHttp.data).toBeUndefined();
    } finally {
      await ws.dispose();
    }
  });

  it('an after that is not an event id is BAD_USER_INPUT, as over the WebSocket', async () => {
    const customer = await stack.customer();
    const result = await apollo(customer.token).subscribe(ORDER_EVENTS, { after: 'yesterday' }).nth(1);
    expect(errorCodes(result)).toEqual(['BAD_USER_INPUT']);
  });

  it('ends a quiet stream when its token expires, with UNAUTHENTICATED as a transport error', async () => {
    const customer = await stack.customer();
    // A token like users' own, but expiring in two seconds (the gateway verifies it against users' JWKS).
    const key = stack.keys.userTokenKey;
    const shortLived = await new SignJWT({ role: 'CUSTOMER', scope: '' })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid! })
      .setSubject(customer.id)
      .setIssuer('urn:supergraph:users')
      .setAudience('urn:supergraph')
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + 2)
      .sign(await importJWK(key, 'ES256'));
    const base = eventStreamStats.open;
    const sub = apollo(shortLived).subscribe('subscription { orderStatusChanged { id } }');
    await streamsOpen(base + 1);
    const ended = await sub.nth(1, 10_000);
    expect(ended.error?.name).toBe('CombinedProtocolErrors');
    expect(errorCodes(ended)).toEqual(['UNAUTHENTICATED']);
    await eventually(async () => (eventStreamStats.open === base ? true : undefined));
  });

  it('sends heartbeat parts while nothing happens, past the request timeout', async () => {
    const controller = new AbortController();
    const res = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'multipart/mixed;boundary="graphql";subscriptionSpec="1.0",application/json' },
      body: JSON.stringify({ query: 'subscription($p: ID!) { stockChanged(productId: $p) { id } }', variables: { p: productId } }),
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^multipart\/mixed; boundary="-"; subscriptionSpec="1.0"/);
    const reader = res.body!.getReader();
    const started = Date.now();
    let text = '';
    const heartbeats = () => (text.match(/\r\n\r\n\{\}/g) ?? []).length;
    let eighthAfterMs: number | undefined;
    // Reads until the stream has outlived the request timeout (it must still be open then), with 8 heartbeats at least.
    while (eighthAfterMs === undefined || Date.now() - started < REQUEST_TIMEOUT_MS + 500) {
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      text += new TextDecoder().decode(value);
      if (eighthAfterMs === undefined && heartbeats() >= 8) eighthAfterMs = Date.now() - started;
    }
    // No sooner than the configured period allows.
    expect(eighthAfterMs).toBeGreaterThanOrEqual(7 * HEARTBEAT_MS);
    expect(text).toContain('content-type: application/json; charset=utf-8');
    controller.abort();
  });

  it('caps open streams per user, and a client abort frees the slot', async () => {
    const customer = await stack.customer();
    const base = eventStreamStats.open;
    const a = apollo(customer.token).subscribe('subscription { orderStatusChanged { id } }');
    const b = apollo(customer.token).subscribe('subscription { orderStatusChanged { id } }');
    await streamsOpen(base + 2);
    const third = apollo(customer.token).subscribe('subscription { orderStatusChanged { id } }');
    // Apollo Client 4 hands a refused request to the subscriber as a result with a ServerError.
    const refused = (await third.nth(1)).error as { statusCode?: number; bodyText?: string } | undefined;
    expect(refused?.statusCode).toBe(429);
    expect(JSON.parse(refused!.bodyText!).errors[0].extensions.code).toBe('RATE_LIMITED');
    a.stop();
    // The gateway sees the abort, ends the event stream and frees the slot.
    await eventually(async () => (eventStreamStats.open === base + 1 ? true : undefined));
    const again = apollo(customer.token).subscribe('subscription { orderStatusChanged { id } }');
    await streamsOpen(base + 2);
    const order = await placeOrder(customer);
    expect((await again.nth(1)).data.orderStatusChanged.id).toBe(order.id);
    expect((await b.nth(1)).data.orderStatusChanged.id).toBe(order.id);
    again.stop();
    b.stop();
    await eventually(async () => (eventStreamStats.open === base ? true : undefined));
  });

  it("a subscription without a streaming Accept is a coded 406, and invalid ones get Apollo's own errors", async () => {
    const post = (query: string, accept = 'application/json') =>
      fetch(stack.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept },
        body: JSON.stringify({ query, variables: { p: productId } }),
      });
    const plain = await post('subscription($p: ID!) { stockChanged(productId: $p) { id } }');
    expect(plain.status).toBe(406);
    expect((await plain.json()).errors[0].extensions.code).toBe('BAD_REQUEST');
    const invalid = await post(
      'subscription($p: ID!) { stockChanged(productId: $p) { noSuchField } }',
      'multipart/mixed;subscriptionSpec="1.0",application/json',
    );
    expect(invalid.status).toBe(400);
    expect((await invalid.json()).errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('holds a client to its safelist, with the code and status an HTTP query gets', async () => {
    const res = await fetch(stack.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'multipart/mixed;subscriptionSpec="1.0",application/json',
        'apollographql-client-name': 'ios-app',
      },
      body: JSON.stringify({ query: 'subscription($p: ID!) { stockChanged(productId: $p) { id } }', variables: { p: productId } }),
    });
    expect(res.status).toBe(403);
    expect((await res.json()).errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_IN_LIST');
  });

  it('serves a trusted document sent by id alone', async () => {
    const controller = new AbortController();
    const base = eventStreamStats.open;
    const res = await fetch(stack.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'multipart/mixed;subscriptionSpec="1.0",application/json',
        'apollographql-client-name': 'watch-app',
      },
      body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: WATCH_ID } }, variables: { p: productId } }),
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    await streamsOpen(base + 1);
    const adjust = await stack.gql(
      `mutation($id: ID!) { adjustStock(productId: $id, delta: 1) { stock } }`,
      { id: productId },
      { token: admin.token },
    );
    const reader = res.body!.getReader();
    let text = '';
    // The part is whole once the next delimiter (a heartbeat's) follows it.
    while (!/\{"payload":[^\r]*\r\n/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    const part = /\{"payload":[^\r]*/.exec(text)![0];
    expect(JSON.parse(part).payload.data.stockChanged).toEqual({ id: productId, stock: adjust.data.adjustStock.stock });
    controller.abort();
  });

  it('queries and mutations with a multipart Accept still get one ordinary response', async () => {
    const res = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'multipart/mixed;subscriptionSpec="1.0",application/json' },
      body: JSON.stringify({ query: `query($id: ID!) { product(id: $id) { id } }`, variables: { id: productId } }),
    });
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect((await res.json()).data.product.id).toBe(productId);
  });
});

describe('subscriptions over SSE (graphql-sse client, distinct connections mode)', () => {
  it('delivers stock changes to an anonymous watcher', async () => {
    const sse = createSseClient({ url: stack.url, retryAttempts: 0 });
    const base = eventStreamStats.open;
    const results: any[] = [];
    const stop = sse.subscribe(
      { query: 'subscription($p: ID!) { stockChanged(productId: $p) { id stock } }', variables: { p: productId } },
      { next: (r) => void results.push(r), error: () => {}, complete: () => {} },
    );
    try {
      await streamsOpen(base + 1);
      const adjust = await stack.gql(
        `mutation($id: ID!) { adjustStock(productId: $id, delta: 3) { stock } }`,
        { id: productId },
        { token: admin.token },
      );
      const event = await eventually(async () => results[0]);
      expect(event.data.stockChanged).toEqual({ id: productId, stock: adjust.data.adjustStock.stock });
      expect(event.extensions.eventId).toMatch(/^\d+-\d+$/);
    } finally {
      stop();
      sse.dispose();
    }
    await eventually(async () => (eventStreamStats.open === base ? true : undefined));
  });
});
