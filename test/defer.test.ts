import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApolloClient, HttpLink, InMemoryCache } from '@apollo/client';
import { Defer20220824Handler } from '@apollo/client/incremental';
import { parse } from 'graphql';
import { operationId } from '../gateway/persisted-queries/manifest.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';
import { multipartParts, readMultipart } from './support/multipart-reader.js';

/**
 * @defer through the federated gateway: an order page whose invoice (billing) is deferred, read by
 * Apollo Client 4 (Defer20220824Handler over HttpLink) and by raw fetch, against the real gateway
 * and subgraphs. Billing is slowed by holding a lock on its invoices table in its own database.
 */

const ORDER_PAGE = `query OrderPage($id: ID!) {
  order(id: $id) {
    id
    number
    status
    total { amountCents }
    ... @defer(label: "invoice") { invoice { status payments { status } } }
  }
}`;

const MULTIPART = 'multipart/mixed;deferSpec=20220824,application/json;q=0.9';
const DELAY_MS = 1_500;

let stack: Stack;
let customer: TestUser;
let orderId: string;
let manifestDir: string;
const MOBILE_BODY = `query MobileOrder($id: ID!) {\n  order(id: $id) {\n    number\n    ... @defer(label: "invoice") {\n      invoice {\n        status\n      }\n    }\n  }\n}`;

beforeAll(async () => {
  manifestDir = await mkdtemp(path.join(os.tmpdir(), 'defer-pq-'));
  const manifest = {
    format: 'apollo-persisted-query-manifest',
    version: 1,
    operations: [{ id: operationId(MOBILE_BODY), name: 'MobileOrder', type: 'query', body: MOBILE_BODY }],
  };
  await writeFile(path.join(manifestDir, 'mobile-app.json'), JSON.stringify(manifest));
  stack = await startStack({
    extra: { gateway: { PERSISTED_QUERIES_DIR: manifestDir, SAFELIST_MODES: JSON.stringify({ 'mobile-app': 'enforce' }) } },
  });
  customer = await stack.customer('Deferred');
  const product = await stack.product({ stock: 50, priceCents: 1250 });
  const placed = await stack.gql(
    `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
    { input: { items: [{ productId: product.id, quantity: 2 }], idempotencyKey: `defer-${randomUUID()}` } },
    { token: customer.token },
  );
  expect(placed.errors).toBeUndefined();
  orderId = placed.data.placeOrder.id;
  // Billing issues the invoice from the OrderPlaced event.
  await eventually(
    async () =>
      (await stack.gql(`query($id: ID!) { order(id: $id) { invoice { status } } }`, { id: orderId }, { token: customer.token })).data?.order
        ?.invoice
        ? true
        : undefined,
    { timeoutMs: 30_000, intervalMs: 200 },
  );
}, 180_000);

afterAll(async () => {
  await stack?.close();
});

function post(body: Record<string, unknown>, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return fetch(stack.url, {
    method: 'POST',
    signal,
    headers: { 'content-type': 'application/json', accept: MULTIPART, authorization: `Bearer ${customer.token}`, ...headers },
    body: JSON.stringify(body),
  });
}

/** Holds an exclusive lock on billing's invoices table until release() (every invoice read waits). */
async function lockInvoices() {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let locked!: () => void;
  const held = new Promise<void>((r) => (locked = r));
  const tx = stack.sql.billing.begin(async (sql) => {
    await sql`LOCK TABLE invoices IN ACCESS EXCLUSIVE MODE`;
    locked();
    await released;
  });
  await held;
  return {
    release: async () => {
      release();
      await tx;
    },
  };
}

describe('@defer over multipart/mixed (deferSpec=20220824)', () => {
  it('Apollo Client 4 gets the order first and the invoice later; with billing slowed the gap is at least the delay', async () => {
    const client = new ApolloClient({
      link: new HttpLink({ uri: stack.url, headers: { authorization: `Bearer ${customer.token}` } }),
      cache: new InMemoryCache(),
      incrementalHandler: new Defer20220824Handler(),
    });
    const lock = await lockInvoices();
    const emissions: { at: number; dataState: string; data: any }[] = [];
    let releaseTimer: NodeJS.Timeout | undefined;
    // Billing stays locked until DELAY_MS after the initial payload arrived (or 10 s: then the test fails below).
    const safety = setTimeout(() => void lock.release(), 10_000);
    const done = new Promise<void>((resolve, reject) => {
      const sub = client.watchQuery({ query: parse(ORDER_PAGE), variables: { id: orderId }, fetchPolicy: 'no-cache' }).subscribe({
        next: (result) => {
          if (!(result.data as any)?.order) return; // the loading state before any payload
          emissions.push({ at: performance.now(), dataState: result.dataState, data: result.data });
          if (emissions.length === 1) releaseTimer = setTimeout(() => void lock.release(), DELAY_MS);
          if (result.dataState === 'complete') {
            sub.unsubscribe();
            resolve();
          }
        },
        error: reject,
      });
    });
    await done;
    clearTimeout(safety);
    clearTimeout(releaseTimer);
    await lock.release();

    const first = emissions[0]!;
    expect(first.dataState).toBe('streaming');
    expect(first.data.order.invoice).toBeUndefined();
    const last = emissions.at(-1)!;
    expect(last.dataState).toBe('complete');
    expect(last.data.order).toMatchObject({
      id: orderId,
      status: 'PENDING_PAYMENT',
      total: { amountCents: 2500 },
      invoice: { status: 'OPEN', payments: [] },
    });
    expect(last.at - first.at).toBeGreaterThanOrEqual(DELAY_MS - 5);
    client.stop();
  }, 30_000);

  it('frames the initial payload with hasNext, then { incremental: [{ data, path, label }], hasNext: false }', async () => {
    const res = await post({ query: ORDER_PAGE, variables: { id: orderId } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('multipart/mixed; boundary="-"; deferSpec=20220824');
    const parts = (await multipartParts(res)).map((p) => p.part);
    expect(parts).toHaveLength(2);
    expect(parts[0]).toEqual({
      data: { order: { id: orderId, number: expect.any(Number), status: 'PENDING_PAYMENT', total: { amountCents: 2500 } } },
      hasNext: true,
    });
    expect(parts[1]).toEqual({
      incremental: [{ data: { invoice: { status: 'OPEN', payments: [] } }, path: ['order'], label: 'invoice' }],
      hasNext: false,
    });
  });

  it('defers fragments inside lists (one item per element) and several at once', async () => {
    const query = `query($id: ID!) { order(id: $id) { number
      items { quantity ... @defer(label: "product") { product { name } } }
      ... @defer { invoice { status } } } }`;
    const parts = (await multipartParts(await post({ query, variables: { id: orderId } }))).map((p) => p.part);
    expect(parts[0]).toEqual({ data: { order: { number: expect.any(Number), items: [{ quantity: 2 }] } }, hasNext: true });
    const incremental = parts.slice(1).flatMap((p) => p.incremental);
    expect(incremental).toHaveLength(2);
    expect(incremental).toContainEqual({ data: { product: { name: expect.any(String) } }, path: ['order', 'items', 0], label: 'product' });
    // An unlabelled fragment carries no label (the gateway's own labels never reach the client).
    expect(incremental).toContainEqual({ data: { invoice: { status: 'OPEN' } }, path: ['order'] });
    expect(parts.at(-1)!.hasNext).toBe(false);
    expect(parts.slice(1, -1).every((p) => p.hasNext === true)).toBe(true);
  });

  it('a fragment the planner cannot defer in place (shippingEstimate @requires catalog data) runs as its own query, after the initial payload', async () => {
    const query = `query($id: ID!) { order(id: $id) { number items { quantity }
      ... @defer(label: "invoice") { invoice { status payments { status } } }
      ... @defer(label: "estimates") { items { product { shippingEstimate { amountCents } } } } } }`;
    const parts = (await multipartParts(await post({ query, variables: { id: orderId } }))).map((p) => p.part);
    expect(parts[0]).toEqual({ data: { order: { number: expect.any(Number), items: [{ quantity: 2 }] } }, hasNext: true });
    const incremental = parts.slice(1).flatMap((p) => p.incremental);
    expect(incremental).toContainEqual({ data: { invoice: { status: 'OPEN', payments: [] } }, path: ['order'], label: 'invoice' });
    expect(incremental).toContainEqual({
      data: { items: [{ product: { shippingEstimate: { amountCents: expect.any(Number) } } }] },
      path: ['order'],
      label: 'estimates',
    });
    expect(parts.at(-1)!.hasNext).toBe(false);

    // Below a list the objects would be matched by position across two reads: then it comes with its parent instead.
    const inList = `{ me { orders(first: 5) { edges { node { number ... @defer(label: "estimates") { items { product { shippingEstimate { amountCents } } } } } } } } }`;
    const listed = await post({ query: inList });
    // Nothing is left to defer: one ordinary response.
    expect(listed.headers.get('content-type')).toMatch(/^application\/json/);
    const listBody = await listed.json();
    expect(listBody.data.me.orders.edges[0].node.items).toEqual([{ product: { shippingEstimate: { amountCents: expect.any(Number) } } }]);
  });

  it('a client that does not accept multipart, and @defer(if: false), get one ordinary JSON response', async () => {
    const plain = await post({ query: ORDER_PAGE, variables: { id: orderId } }, { accept: 'application/json' });
    expect(plain.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await plain.json();
    expect(body).toEqual({ data: { order: expect.objectContaining({ id: orderId, invoice: { status: 'OPEN', payments: [] } }) } });

    const off = `query($id: ID!, $d: Boolean!) { order(id: $id) { number ... @defer(if: $d) { invoice { status } } } }`;
    const single = await post({ query: off, variables: { id: orderId, d: false } });
    expect(single.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await single.json()).data.order.invoice).toEqual({ status: 'OPEN' });
    const deferred = (await multipartParts(await post({ query: off, variables: { id: orderId, d: true } }))).map((p) => p.part);
    expect(deferred).toHaveLength(2);
    expect(deferred[1].incremental[0].data).toEqual({ invoice: { status: 'OPEN' } });
  });
  it('a deferred named fragment spread is deferred like an inline fragment', async () => {
    const query = `query($id: ID!) { order(id: $id) { number ...Billing @defer(label: "billing") } } fragment Billing on Order { invoice { status } }`;
    const parts = (await multipartParts(await post({ query, variables: { id: orderId } }))).map((p) => p.part);
    expect(parts[0]).toEqual({ data: { order: { number: expect.any(Number) } }, hasNext: true });
    expect(parts[1]).toEqual({
      incremental: [{ data: { invoice: { status: 'OPEN' } }, path: ['order'], label: 'billing' }],
      hasNext: false,
    });
  });

  it('a client that goes away before the deferred part arrives does not disturb the gateway', async () => {
    const lock = await lockInvoices();
    const abort = new AbortController();
    try {
      const res = await post({ query: ORDER_PAGE, variables: { id: orderId } }, {}, abort.signal);
      const reader = readMultipart(res);
      expect((await reader.next()).value?.part.hasNext).toBe(true);
      abort.abort();
    } finally {
      await lock.release();
    }
    // The deferred part completes into a closed connection; the gateway keeps serving.
    await new Promise((r) => setTimeout(r, 300));
    const again = (await multipartParts(await post({ query: ORDER_PAGE, variables: { id: orderId } }))).map((p) => p.part);
    expect(again[1].incremental[0].data.invoice.status).toBe('OPEN');
  });
});

describe('the edge applies to deferred parts', () => {
  it('a field the caller may not read inside a deferred fragment is null with FORBIDDEN; the rest is served', async () => {
    const query = `query($id: ID!) { order(id: $id) { number ... @defer { invoice { status } } }
      ... @defer(label: "admin") { categories { id } userByEmail(email: "ada@example.com") { id } } }`;
    const parts = (await multipartParts(await post({ query, variables: { id: orderId } }))).map((p) => p.part);
    // Authorization is decided before any subgraph is called, so the denial comes with the initial payload.
    expect(parts[0].errors).toEqual([
      expect.objectContaining({ path: ['userByEmail'], extensions: expect.objectContaining({ code: 'FORBIDDEN' }) }),
    ]);
    expect(parts[0].data.userByEmail).toBeNull();
    const incremental = parts.slice(1).flatMap((p) => p.incremental);
    expect(incremental).toContainEqual({ data: { invoice: { status: 'OPEN' } }, path: ['order'] });
    expect(incremental).toContainEqual({ data: { categories: expect.any(Array) }, path: [], label: 'admin' });
    expect(JSON.stringify(incremental)).not.toContain('userByEmail');
  });

  it('an anonymous caller gets UNAUTHENTICATED and nothing of the order, in one response (nothing is left to defer)', async () => {
    const res = await post({ query: ORDER_PAGE, variables: { id: orderId } }, { authorization: '' });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await res.json();
    expect(body.data).toEqual({ order: null });
    expect(body.errors.map((e: any) => e.extensions.code)).toEqual(['UNAUTHENTICATED']);
  });

  it('operation limits count the fields inside deferred fragments (the same code as without @defer)', async () => {
    const deep = (defer: boolean) =>
      `query($id: ID!) { order(id: $id) { number ...${defer ? ' @defer' : ''} { items { product { category { products { edges { node { category { products { edges { node { name } } } } } } } } } } } } } }`;
    const plain = await (await post({ query: deep(false), variables: { id: orderId } }, { accept: 'application/json' })).json();
    const deferred = await post({ query: deep(true), variables: { id: orderId } });
    expect(deferred.headers.get('content-type')).toMatch(/^application\/json/);
    const body = await deferred.json();
    expect(plain.errors[0].extensions.code).toBeDefined();
    expect(body.errors[0].extensions.code).toBe(plain.errors[0].extensions.code);
    expect(body.data).toBeUndefined();
  });

  it('a persisted query with @defer, sent by id from a client whose safelist is enforced, is deferred', async () => {
    const id = operationId(MOBILE_BODY);
    const res = await post(
      { extensions: { persistedQuery: { version: 1, sha256Hash: id } }, variables: { id: orderId } },
      { 'apollographql-client-name': 'mobile-app' },
    );
    const parts = (await multipartParts(res)).map((p) => p.part);
    expect(parts[0]).toEqual({ data: { order: { number: expect.any(Number) } }, hasNext: true });
    expect(parts[1]).toEqual({
      incremental: [{ data: { invoice: { status: 'OPEN' } }, path: ['order'], label: 'invoice' }],
      hasNext: false,
    });
    // The same client may not send an operation outside its manifest, @defer or not.
    const unlisted = await post({ query: ORDER_PAGE, variables: { id: orderId } }, { 'apollographql-client-name': 'mobile-app' });
    expect(unlisted.headers.get('content-type')).toMatch(/^application\/json/);
    expect((await unlisted.json()).errors[0].extensions.code).toBeDefined();
  });

  it('billing down: the initial payload is whole, the deferred invoice is null with SUBREQUEST_HTTP_ERROR', async () => {
    await stack.supergraph.stop('billing');
    try {
      const res = await post({ query: ORDER_PAGE, variables: { id: orderId } });
      const timed = [];
      for await (const part of readMultipart(res)) timed.push(part.part);
      expect(timed[0]).toEqual({ data: { order: expect.objectContaining({ id: orderId, status: 'PENDING_PAYMENT' }) }, hasNext: true });
      const [item] = timed[1].incremental;
      expect(item.data).toEqual({ invoice: null });
      expect(item.path).toEqual(['order']);
      expect(item.errors.map((e: any) => e.extensions.code)).toEqual(['SUBREQUEST_HTTP_ERROR']);
      expect(JSON.stringify(item.errors)).not.toMatch(/127\.0\.0\.1|localhost|ECONNREFUSED|stack/i);
      expect(timed[1].hasNext).toBe(false);
    } finally {
      await stack.supergraph.start('billing');
    }
  }, 30_000);
});

describe('read-your-writes', () => {
  let replicated: Stack;
  let buyer: TestUser;
  const postTo = (target: Stack, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    fetch(target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: MULTIPART, authorization: `Bearer ${buyer.token}`, ...headers },
      body: JSON.stringify(body),
    });
  beforeAll(async () => {
    // Subgraphs report their write positions (the token's content) only when they have replicas.
    replicated = await startStack({ replica: true });
    buyer = await replicated.customer('Deferred writer');
  }, 120_000);
  afterAll(async () => {
    await replicated?.close();
  });

  it('a mutation with a deferred fragment hands back the read-your-writes token on the multipart response', async () => {
    const product = await replicated.product({ stock: 5 });
    const mutation = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id ... @defer { items { quantity } } } }`;
    const res = await postTo(replicated, {
      query: mutation,
      variables: { input: { items: [{ productId: product.id, quantity: 1 }], idempotencyKey: `defer-m-${randomUUID()}` } },
    });
    const token = res.headers.get('x-consistency-token');
    expect(token).toMatch(/^[\w-]+\.[\w-]+$/);
    const parts = (await multipartParts(res)).map((p) => p.part);
    expect(parts[1].incremental[0]).toEqual({ data: { items: [{ quantity: 1 }] }, path: ['placeOrder'] });
    // The token goes with the next request: its deferred part (an entity fetch to orders) reads the write too.
    const newId = parts[0].data.placeOrder.id;
    const read = await postTo(
      replicated,
      { query: `query($id: ID!) { order(id: $id) { id ... @defer { items { quantity } } } }`, variables: { id: newId } },
      { 'x-consistency-token': token! },
    );
    const readParts = (await multipartParts(read)).map((p) => p.part);
    expect(readParts[0].data.order.id).toBe(newId);
    expect(readParts[1].incremental).toEqual([{ data: { items: [{ quantity: 1 }] }, path: ['order'] }]);
  });
});
