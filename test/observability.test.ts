import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../platform/paths.js';
import { ACCOUNT_PAGE } from './support/operations.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';
import { wsClient } from './support/ws-client.js';

const SERVICES = ['gateway', 'users', 'catalog', 'orders', 'billing'] as const;
type Service = (typeof SERVICES)[number];
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

let stack: Stack;
let customer: TestUser;

beforeAll(async () => {
  stack = await startStack();
  customer = await stack.customer('Metered');
  const product = await stack.product({ stock: 50 });
  for (let i = 0; i < 3; i++) {
    const res = await stack.gql(
      `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
      { input: { items: [{ productId: product.id, quantity: 1 }], idempotencyKey: `metrics-order-${i}` } },
      { token: customer.token },
    );
    expect(res.errors).toBeUndefined();
  }
}, 120_000);
afterAll(() => stack?.close());

/** Prometheus text format, samples only. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

async function scrape(service: Service): Promise<{ status: number; type: string | null; samples: Sample[] }> {
  const res = await fetch(`${stack.supergraph.metricsUrls[service]}/metrics`);
  return { status: res.status, type: res.headers.get('content-type'), samples: parse(await res.text()) };
}

/** Sum of the samples of `name` whose labels match (a string exactly, a RegExp by pattern). */
const total = (samples: Sample[], name: string, match: Record<string, string | RegExp> = {}) =>
  samples
    .filter(
      (s) =>
        s.name === name && Object.entries(match).every(([k, v]) => (typeof v === 'string' ? s.labels[k] === v : v.test(s.labels[k] ?? ''))),
    )
    .reduce((sum, s) => sum + s.value, 0);

const scrapeAll = async () =>
  Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, (await scrape(s)).samples]))) as Record<Service, Sample[]>;

describe('GET /metrics', () => {
  it('is open on every service (no token) on a port of its own, in Prometheus text, one registry per instance', async () => {
    for (const service of SERVICES) {
      // Never on the public port.
      expect(new URL(stack.supergraph.metricsUrls[service]).port).not.toBe(new URL(stack.supergraph.urls[service]).port);
      expect((await fetch(`${stack.supergraph.urls[service]}/metrics`)).status, service).toBe(404);
      const { status, type, samples } = await scrape(service);
      expect(status).toBe(200);
      expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
      // Default process metrics are on, and nothing of another service leaks into this registry.
      expect(total(samples, 'process_cpu_seconds_total')).toBeGreaterThan(0);
      expect(new Set(samples.map((s) => s.labels.service))).toEqual(new Set([service]));
    }
  });

  it('moves with traffic: operations by name and client, errors by code, subgraph fetches, loader batches, SQL by role, pools', async () => {
    const before = await scrapeAll();
    const web = { token: customer.token, headers: { 'apollographql-client-name': 'web-app' } };
    expect((await stack.gql(ACCOUNT_PAGE, { n: 10 }, web)).errors).toBeUndefined();
    const invalid = await stack.gql('query Broken { me { noSuchField } }', {}, web);
    expect(invalid.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const after = await scrapeAll();
    const delta = (service: Service, name: string, match: Record<string, string | RegExp> = {}) =>
      total(after[service], name, match) - total(before[service], name, match);

    const accountPage = { operation: 'AccountPage', client: 'web-app' };
    expect(delta('gateway', 'graphql_requests_total', accountPage)).toBe(1);
    expect(delta('gateway', 'graphql_request_duration_seconds_count', accountPage)).toBe(1);
    expect(delta('gateway', 'graphql_request_duration_seconds_sum', accountPage)).toBeGreaterThan(0);
    expect(
      delta('gateway', 'graphql_request_errors_total', { operation: 'invalid', client: 'web-app', code: 'GRAPHQL_VALIDATION_FAILED' }),
    ).toBe(1);
    expect(delta('gateway', 'graphql_request_errors_total', accountPage)).toBe(0);
    for (const subgraph of ['users', 'catalog', 'orders', 'billing']) {
      expect(delta('gateway', 'gateway_subgraph_fetch_duration_seconds_count', { subgraph, outcome: 'ok' }), subgraph).toBeGreaterThan(0);
      // At a subgraph the operation is the gateway's fetch (named after the client's) and the client is the caller.
      expect(
        delta(subgraph as Service, 'graphql_requests_total', { operation: /^AccountPage__/, client: 'gateway' }),
        subgraph,
      ).toBeGreaterThan(0);
      expect(
        delta(subgraph as Service, 'db_statement_duration_seconds_count', { role: 'primary', outcome: 'ok' }),
        subgraph,
      ).toBeGreaterThan(0);
    }
    // Three orders' items in one batch: one observation of size 3 on the orderItems loader.
    expect(delta('orders', 'dataloader_batch_size_count', { loader: 'orderItems' })).toBe(1);
    expect(delta('orders', 'dataloader_batch_size_sum', { loader: 'orderItems' })).toBe(3);
    expect(delta('catalog', 'dataloader_batch_size_count')).toBeGreaterThan(0);
    expect(total(after.orders, 'db_pool_connections_open', { role: 'primary' })).toBeGreaterThan(0);
    expect(total(after.orders, 'db_pool_connections_max', { role: 'primary' })).toBe(10);
    expect(total(after.orders, 'db_statements_in_flight', { role: 'primary' })).toBeGreaterThanOrEqual(0);
  });

  it('event backlog and consumer lag: the outbox count rises while the relay cannot publish a row, and falls again', async () => {
    const backlog = async () => total((await scrape('orders')).samples, 'events_outbox_unpublished', { stream: 'orders' });
    await eventually(async () => ((await backlog()) === 0 ? true : undefined));
    // A billing event in the orders outbox: the relay refuses it (wrong stream) and rolls back, so it stays unpublished.
    const [row] = await stack.sql
      .orders`insert into outbox (event_id, type, payload) values (gen_random_uuid(), 'InvoicePaid', '{}') returning position`;
    try {
      expect(await backlog()).toBe(1);
    } finally {
      await stack.sql.orders`delete from outbox where position = ${row!.position}`;
    }
    expect(await backlog()).toBe(0);
    // Consumers keep up: every group this stack runs reports zero lag and nothing pending once events are handled.
    const groups = { billing: 'orders', catalog: 'orders', orders: 'billing' } as const;
    for (const [group, stream] of Object.entries(groups)) {
      await eventually(async () => {
        const samples = (await scrape(group as Service)).samples;
        const lag = samples.find((s) => s.name === 'events_consumer_lag' && s.labels.group === group && s.labels.stream === stream);
        const pending = samples.find((s) => s.name === 'events_consumer_pending' && s.labels.group === group && s.labels.stream === stream);
        return lag?.value === 0 && pending?.value === 0 ? true : undefined;
      });
    }
  });

  it('open subscriptions and WebSocket connections at the gateway', async () => {
    const gauges = async () => {
      const samples = (await scrape('gateway')).samples;
      return { subscriptions: total(samples, 'graphql_subscriptions_open'), sockets: total(samples, 'websocket_connections_open') };
    };
    const ws = wsClient(stack.url, customer.token);
    const sub = ws.subscribe('subscription { orderStatusChanged { id status } }');
    try {
      await eventually(async () => {
        const g = await gauges();
        return g.subscriptions === 1 && g.sockets === 1 ? true : undefined;
      });
    } finally {
      sub.stop();
      await ws.dispose();
    }
    await eventually(async () => {
      const g = await gauges();
      return g.subscriptions === 0 && g.sockets === 0 ? true : undefined;
    });
  });
});

describe('operation labels', () => {
  it('anonymous junk names cannot take the label budget: listed and signed-in operations keep their names', async () => {
    const operationLabels = async () =>
      new Set((await scrape('gateway')).samples.filter((s) => s.name === 'graphql_requests_total').map((s) => s.labels.operation));
    const before = (await operationLabels()).size;
    for (let batch = 0; batch < 15; batch++) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => stack.gql(`query Junk${batch * 20 + i} { __typename }`)));
    }
    // A listed operation (ios-app's manifest), sent by an anonymous caller, and an unlisted one by a signed-in caller.
    const storefront = (
      JSON.parse(readFileSync(path.join(ROOT, 'persisted-queries', 'ios-app.json'), 'utf8')) as {
        operations: { name: string; body: string }[];
      }
    ).operations.find((o) => o.name === 'Storefront')!;
    expect((await stack.gql(storefront.body, { first: 1 })).errors).toBeUndefined();
    expect((await stack.gql('query MeAfterJunk { me { id } }', {}, { token: customer.token })).errors).toBeUndefined();
    const labels = await operationLabels();
    console.log(`gateway operation labels: ${before} before 300 junk names, ${labels.size} after`);
    expect(labels).toContain('Storefront');
    expect(labels).toContain('MeAfterJunk');
    expect([...labels].filter((l) => l?.startsWith('Junk'))).toEqual([]);
    expect(labels.size - before).toBeLessThan(5);
  });
});

describe('Grafana dashboard', () => {
  it('lays its panels out on the 24-column grid without overlaps, each with its own id', () => {
    const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'deploy/grafana/supergraph-dashboard.json'), 'utf8')) as {
      panels: { id: number; title: string; gridPos: { x: number; y: number; w: number; h: number } }[];
    };
    const panels = dashboard.panels;
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    expect(panels.filter(({ gridPos: g }) => g.x < 0 || g.w < 1 || g.x + g.w > 24).map((p) => p.title)).toEqual([]);
    const overlaps = panels.flatMap((a, i) =>
      panels
        .slice(i + 1)
        .filter(
          ({ gridPos: b }) =>
            a.gridPos.x < b.x + b.w && b.x < a.gridPos.x + a.gridPos.w && a.gridPos.y < b.y + b.h && b.y < a.gridPos.y + a.gridPos.h,
        )
        .map((b) => `${a.title} / ${b.title}`),
    );
    expect(overlaps).toEqual([]);
  });

  it('queries only metrics that some service exposes', async () => {
    const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'deploy/grafana/supergraph-dashboard.json'), 'utf8')) as {
      panels: { targets?: { expr: string }[] }[];
    };
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(15);
    // Every metric reference in the dashboard carries a label selector: `name{…}`.
    const names = new Set(exprs.flatMap((e) => [...e.matchAll(/([a-zA-Z_:][\w:]*)\{/g)].map((m) => m[1]!)));
    const exposed = new Set(Object.values(await scrapeAll()).flatMap((samples) => samples.map((s) => s.name)));
    expect([...names].filter((n) => !exposed.has(n))).toEqual([]);
    // And each metric family of the issue has a panel.
    for (const family of [
      'graphql_requests_total',
      'graphql_request_errors_total',
      'graphql_request_duration_seconds_bucket',
      'gateway_subgraph_fetch_duration_seconds_bucket',
      'dataloader_batch_size_bucket',
      'db_statement_duration_seconds_bucket',
      'db_pool_connections_open',
      'events_outbox_unpublished',
      'events_consumer_lag',
      'graphql_subscriptions_open',
      'gateway_subgraph_breaker_state',
      'gateway_client_registry_bad_files',
    ]) {
      expect(names).toContain(family);
    }
  });
});
