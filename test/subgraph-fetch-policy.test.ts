import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewaySchema, parseConfig } from '../platform/config.js';
import { createGatewayServer } from '../gateway/server.js';
import { localEnv } from '../platform/local-env.js';
import { createHealth } from '../platform/http.js';
import express from 'express';
import { eventStreamStats } from '../gateway/subscriptions/event-stream.js';
import { createDatabase } from '../platform/db.js';
import { enqueue } from '../platform/events/outbox.js';
import type { Tx } from '../platform/idempotency.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';
import { wsClient } from './support/ws-client.js';

/**
 * The gateway's fetch policy against a misbehaving neighbour: billing's URL points at a real HTTP
 * server that answers 503 or never answers (as an overloaded proxy or a wedged process would).
 * Queries are retried once after a 503, mutations never; a per-subgraph deadline applies; the
 * breaker opens after consecutive failures, then fails fast without a request, and a healthy
 * probe closes it.
 */
type Mode = 'unavailable' | 'hang' | 'healthy' | 'errors';
let mode: Mode = 'unavailable';
const hits = { query: 0, mutation: 0, probe: 0 };
const hanging = new Set<http.ServerResponse>();
const neighbour = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    if (req.url === '/health/ready') {
      hits.probe += 1;
      return void res.writeHead(mode === 'healthy' ? 200 : 503, { 'content-type': 'application/json' }).end('{}');
    }
    hits[body.startsWith('{"query":"mutation') ? 'mutation' : 'query'] += 1;
    if (mode === 'hang') return void hanging.add(res);
    if (mode === 'errors') {
      // A subgraph's own errors, one without a code and one with a code the gateway has never heard of.
      const n = (JSON.parse(body).variables?.representations ?? []).length;
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          data: { _entities: Array.from({ length: n }, () => null) },
          errors: [
            { message: 'Invoices are read-only during maintenance.', path: ['_entities', 0, 'invoice'] },
            { message: 'Try again after 10:00 UTC.', path: ['_entities', 0, 'invoice'], extensions: { code: 'BILLING_MAINTENANCE' } },
          ],
        }),
      );
    }
    res.writeHead(503, { 'content-type': 'text/html' }).end('<html>503 Service Unavailable from 10.1.2.3:4004</html>');
  });
});

let stack: Stack;
let customer: TestUser;
let orderId: string;
const ACCOUNT = `query { me { name orders(first: 5) { edges { node { id invoice { status } } } } } }`;

beforeAll(async () => {
  await new Promise<void>((resolve) => neighbour.listen(0, '127.0.0.1', resolve));
  const billingUrl = `http://127.0.0.1:${(neighbour.address() as AddressInfo).port}`;
  stack = await startStack({
    extra: {
      gateway: {
        SUBGRAPH_URLS: JSON.stringify({ billing: billingUrl }),
        SUBGRAPH_TIMEOUTS: '{"billing": 400}',
        SUBGRAPH_BREAKER_CONSECUTIVE_FAILURES: '4',
        SUBGRAPH_BREAKER_HALF_OPEN_MS: '500',
      },
    },
  });
  customer = await stack.customer('Neighbour');
  const product = await stack.product({ stock: 10 });
  const placed = await stack.gql(
    `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
    { input: { items: [{ productId: product.id, quantity: 1 }], idempotencyKey: `policy-${randomUUID()}` } },
    { token: customer.token },
  );
  orderId = placed.data.placeOrder.id;
}, 120_000);
afterAll(async () => {
  for (const res of hanging) res.destroy();
  await stack?.close();
  await new Promise((resolve) => neighbour.close(resolve));
});

const reset = () => Object.assign(hits, { query: 0, mutation: 0, probe: 0 });
const breaker = async () => {
  const text = await (await fetch(`${stack.supergraph.metricsUrls.gateway}/metrics`)).text();
  return Number(/gateway_subgraph_breaker_state\{[^}]*subgraph="billing"[^}]*\} (\d)/.exec(text)?.[1]);
};
const account = async () => {
  const started = performance.now();
  const res = await stack.gql(ACCOUNT, {}, { token: customer.token });
  return { res, ms: performance.now() - started };
};

describe("a subgraph's own errors", () => {
  it('keep their message and code at the gateway, coded or not (DOWNSTREAM_SERVICE_ERROR), and do not count as failures', async () => {
    mode = 'errors';
    const { res } = await account();
    expect(res.data.me.orders.edges[0].node).toEqual({ id: orderId, invoice: null });
    const path = ['me', 'orders', 'edges', 0, 'node', 'invoice'];
    expect(res.errors).toEqual([
      { message: 'Invoices are read-only during maintenance.', path, extensions: { code: 'DOWNSTREAM_SERVICE_ERROR', service: 'billing' } },
      { message: 'Try again after 10:00 UTC.', path, extensions: { code: 'BILLING_MAINTENANCE', service: 'billing' } },
    ]);
    expect(await breaker()).toBe(0);
  });
});

describe('subgraph fetch policy', () => {
  it('deadline per subgraph, retries for queries only, breaker opens, fails fast, closes on a healthy probe', async () => {
    // 1. Never answers: the subgraph's own 400 ms deadline, not the 3 s default; a timeout is not retried.
    mode = 'hang';
    reset();
    const slow = await account();
    expect(slow.res.data.me.orders.edges[0].node).toEqual({ id: orderId, invoice: null });
    expect(slow.res.errors?.[0]).toMatchObject({
      message: "HTTP fetch failed from 'billing': timed out",
      path: ['me', 'orders', 'edges', 0, 'node', 'invoice'],
      extensions: { code: 'SUBREQUEST_HTTP_ERROR', service: 'billing' },
    });
    expect(slow.ms).toBeGreaterThanOrEqual(380);
    expect(slow.ms).toBeLessThan(2_500);
    expect(hits.query).toBe(1);

    // 2. A mutation answered 503 is sent once, whatever the retry setting.
    mode = 'unavailable';
    reset();
    const pay = await stack.gql(
      `mutation($input: PayInvoiceInput!) { payInvoice(input: $input) { status } }`,
      { input: { invoiceId: randomUUID(), cardToken: 'tok_visa', idempotencyKey: `pay-${randomUUID()}` } },
      { token: customer.token },
    );
    expect(pay.data).toBeNull();
    // The contract's code for a mutation whose service is down (a query's fields get SUBREQUEST_HTTP_ERROR).
    expect(pay.errors).toEqual([
      {
        message: 'The billing service is unavailable (HTTP 503); retry later with the same idempotency key.',
        path: ['payInvoice'],
        extensions: { code: 'SERVICE_UNAVAILABLE', service: 'billing', reason: 'HTTP 503' },
      },
    ]);
    expect(hits.mutation).toBe(1);

    // 3. A query answered 503 is retried once (two requests), and the proxy's page never reaches the client.
    reset();
    const retried = await account();
    expect(retried.res.errors?.[0]?.message).toBe("HTTP fetch failed from 'billing': HTTP 503");
    expect(JSON.stringify(retried.res.errors)).not.toMatch(/10\.1\.2\.3|html/);
    expect(hits.query).toBe(2);
    // Four failures in a row (timeout, 503, 503, 503): open.
    expect(await breaker()).toBe(2);

    // 4. Open: no request at all, an answer at once.
    reset();
    const fast = await account();
    expect(fast.res.errors?.[0]?.message).toBe("HTTP fetch failed from 'billing': circuit open");
    expect(hits.query).toBe(0);
    expect(fast.ms).toBeLessThan(1_000);
    // The breaker probes /health/ready (not client requests) while open.
    await eventually(async () => (hits.probe > 0 ? true : undefined), { timeoutMs: 5_000 });
    expect(hits.query).toBe(0);

    // 5. A healthy probe closes it; fetches go out again.
    mode = 'healthy';
    await eventually(async () => ((await breaker()) === 0 ? true : undefined), { timeoutMs: 5_000 });
    mode = 'unavailable';
    reset();
    await account();
    expect(hits.query).toBe(2);
  }, 60_000);
});

describe('a subscription event whose query fails at the subgraph', () => {
  it('is sent with the error and its eventId (data null: the field is non-null), not skipped, and the subscription goes on', async () => {
    mode = 'unavailable';
    const client = wsClient(stack.url, customer.token);
    const billing = createDatabase(
      { DATABASE_URL: stack.databaseUrls.billing, DATABASE_REPLICA_URLS: [], DATABASE_POOL_MAX: 1 },
      {},
      { applicationName: 'fetch-policy-test' },
    );
    try {
      const base = eventStreamStats.open;
      const sub = client.subscribe(`subscription { invoiceStatusChanged { id status } }`);
      await eventually(async () => (eventStreamStats.open > base ? true : undefined));
      const [invoice] = await stack.sql.billing<
        { id: string; status: string }[]
      >`select id, status from invoices where order_id = ${orderId}`;
      // Billing's own relay publishes it; the gateway's query for the invoice meets the 503s.
      const payload = { invoiceId: invoice!.id, orderId, customerId: customer.id, status: invoice!.status };
      await billing.primary.transaction((tx) => enqueue(tx as Tx, { type: 'InvoiceStatusChanged', payload }));
      const first = await sub.nth(1, 20_000);
      expect(first.data).toBeNull();
      expect(first.extensions?.eventId).toEqual(expect.any(String));
      // Where to resume to get it again (a client that ends on an error): the subscription's start, here.
      expect(first.errors?.[0]?.extensions).toMatchObject({ service: 'billing', lastEventId: expect.stringMatching(/^\d+-\d+$/) });
      // It goes on: the next event comes too.
      await billing.primary.transaction((tx) => enqueue(tx as Tx, { type: 'InvoiceStatusChanged', payload }));
      const second = await sub.nth(2, 20_000);
      expect(second.extensions?.eventId).not.toBe(first.extensions?.eventId);
    } finally {
      await client.dispose();
      await billing.close();
    }
  });
});

describe('configuration', () => {
  it('a per-subgraph deadline for a subgraph the supergraph does not have stops the gateway, naming the variable', async () => {
    const env = localEnv({ ...stack.topology, metricsPorts: {} }).gateway;
    const config = parseConfig(gatewaySchema, { ...env, SUBGRAPH_TIMEOUTS: '{"invoicing": 500}' });
    await expect(createGatewayServer(config)).rejects.toThrow(/SUBGRAPH_TIMEOUTS: "invoicing" is not a subgraph/);
    expect(() => parseConfig(gatewaySchema, { ...env, SUBGRAPH_TIMEOUTS: '{"billing": 5}' })).toThrow(/SUBGRAPH_TIMEOUTS/);
  });
});

describe('readiness', () => {
  it('a check that hangs (a database that never answers) reports 503 within the deadline instead of hanging the probe', async () => {
    const app = express().use(createHealth(() => new Promise(() => {})).router);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const started = performance.now();
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/health/ready`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'unavailable', timedOut: true });
      expect(performance.now() - started).toBeLessThan(3_000);
    } finally {
      server.close();
    }
  });
});
