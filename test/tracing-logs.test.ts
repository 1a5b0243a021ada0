import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTracing, stopTracing } from '../platform/observability/tracing.js';
import { ACCOUNT_PAGE, LOG_IN, PLACE_ORDER } from './support/operations.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/*
 * The services run in this process, so an in-memory exporter registered here before they start is
 * the provider every one of them uses (startTracing keeps the first). Logs go to one file per
 * service through LOG_DESTINATION, exactly as in production.
 */
const exporter = new InMemorySpanExporter();
const SERVICES = ['gateway', 'users', 'catalog', 'orders', 'billing'] as const;
let stack: Stack;
let customer: TestUser;
let logDir: string;

beforeAll(async () => {
  startTracing({ serviceName: 'supergraph-test', spanProcessor: new SimpleSpanProcessor(exporter) });
  logDir = await mkdtemp(path.join(os.tmpdir(), 'supergraph-logs-'));
  const logTo = (name: string) => ({ LOG_LEVEL: 'info', LOG_DESTINATION: path.join(logDir, `${name}.log`) });
  const extra: Record<string, Record<string, string>> = Object.fromEntries(SERVICES.map((s) => [s, logTo(s)]));
  // Every request must reach every subgraph here: no cache answers for them (gateway/cache/).
  extra.gateway = { ...extra.gateway, RESPONSE_CACHE_ENABLED: 'false', ENTITY_CACHE_ENABLED: 'false' };
  stack = await startStack({ extra });
  customer = await stack.customer('Traced');
  const product = await stack.product({ stock: 10 });
  const placed = await stack.gql(
    PLACE_ORDER,
    { input: { items: [{ productId: product.id, quantity: 1 }], idempotencyKey: 'trace-order-1' } },
    { token: customer.token },
  );
  expect(placed.errors).toBeUndefined();
}, 120_000);
afterAll(async () => {
  await stack?.close();
  await stopTracing();
});

const attr = (span: ReadableSpan, name: string) => span.attributes[name];
const serviceOf = (span: ReadableSpan) => String(attr(span, 'service.name') ?? '');

/** One AccountPage through the gateway; its spans once the gateway's server span has ended. */
async function tracedAccountPage() {
  exporter.reset();
  const res = await stack.gql(ACCOUNT_PAGE, { n: 5 }, { token: customer.token, headers: { 'apollographql-client-name': 'web-app' } });
  expect(res.errors).toBeUndefined();
  const requestId = res.headers.get('x-request-id')!;
  const root = await eventually(async () =>
    exporter
      .getFinishedSpans()
      .find((s) => serviceOf(s) === 'gateway' && s.kind === SpanKind.SERVER && attr(s, 'request.id') === requestId),
  );
  const traceId = root.spanContext().traceId;
  // Subgraph server spans end when their responses close, which may be just after the gateway's.
  const spans = await eventually(async () => {
    const all = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    const servers = new Set(all.filter((s) => s.kind === SpanKind.SERVER).map(serviceOf));
    return SERVICES.every((s) => servers.has(s)) ? all : undefined;
  });
  return { requestId, traceId, root, spans };
}

describe('tracing', () => {
  it('one AccountPage is one trace: gateway, the four subgraphs and their SQL, parented through traceparent', async () => {
    const { root, spans } = await tracedAccountPage();
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const parentOf = (s: ReadableSpan) => (s.parentSpanContext ? byId.get(s.parentSpanContext.spanId) : undefined);
    expect(root.parentSpanContext).toBeUndefined();

    // @apollo/gateway's own spans sit under the gateway's server span.
    expect(spans.some((s) => s.name === 'gateway.plan')).toBe(true);
    for (const name of ['users', 'catalog', 'orders', 'billing']) {
      const servers = spans.filter((s) => s.kind === SpanKind.SERVER && serviceOf(s) === name);
      expect(servers.length).toBeGreaterThan(0);
      for (const server of servers) {
        // Each subgraph request continues from the gateway's client span for that subgraph.
        const client = parentOf(server)!;
        expect(client.kind).toBe(SpanKind.CLIENT);
        expect(client.name).toBe(`POST ${name}`);
        let up: ReadableSpan | undefined = client;
        while (up && up !== root) up = parentOf(up);
        expect(up).toBe(root);
      }
      // SQL spans of that subgraph hang under one of its server spans.
      const sql = spans.filter((s) => attr(s, 'db.system.name') === 'postgresql' && serviceOf(s) === name);
      expect(sql.length, `SQL spans of ${name}`).toBeGreaterThan(0);
      for (const statement of sql) {
        let up = parentOf(statement);
        while (up && up.kind !== SpanKind.SERVER) up = parentOf(up);
        expect(servers).toContain(up);
        expect(String(attr(statement, 'db.query.text'))).toMatch(/^\s*(select|with)/i);
      }
    }
  });

  it('the trace id of a caller is continued, not replaced', async () => {
    exporter.reset();
    const traceId = 'a'.repeat(31) + '1';
    const res = await stack.gql('{ __typename }', {}, { headers: { traceparent: `00-${traceId}-${'b'.repeat(16)}-01` } });
    expect(res.status).toBe(200);
    const root = await eventually(async () =>
      exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER && attr(s, 'request.id') === res.headers.get('x-request-id')),
    );
    expect(root.spanContext().traceId).toBe(traceId);
  });
});

describe('logs', () => {
  const lines = async (service: string) =>
    (await readFile(path.join(logDir, `${service}.log`), 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('one `request completed` line per request at the gateway and each subgraph, with request id, trace id, operation and client', async () => {
    const { requestId, traceId } = await tracedAccountPage();
    const gatewayLine = await eventually(async () =>
      (await lines('gateway')).find((l) => l.msg === 'request completed' && l.requestId === requestId),
    );
    expect(gatewayLine).toMatchObject({ service: 'gateway', traceId, operation: 'AccountPage', client: 'web-app', status: 200 });
    expect(gatewayLine.durationMs).toEqual(expect.any(Number));
    for (const name of ['users', 'catalog', 'orders', 'billing']) {
      const line = await eventually(async () =>
        (await lines(name)).find((l) => l.msg === 'request completed' && l.requestId === requestId),
      );
      // The subgraph's operation is the gateway's fetch, named after the client operation.
      expect(line).toMatchObject({ service: name, traceId, client: 'gateway' });
      expect(String(line.operation)).toMatch(/^AccountPage__/);
    }
  });

  it('error codes are logged; tokens, passwords and card tokens never are', async () => {
    const wrong = await stack.gql(
      LOG_IN,
      { input: { email: 'nobody@example.test', password: 'hunter2-secret-password' } },
      { headers: { cookie: 'session=cookie-secret' } },
    );
    expect(wrong.errors?.length).toBeGreaterThan(0);
    const bad = await stack.gql('{ me { id } }', {}, { token: 'not-a-real-token-secret' });
    expect(bad.status).toBe(401);
    const line = await eventually(async () =>
      (await lines('gateway')).find((l) => l.msg === 'request completed' && l.requestId === wrong.headers.get('x-request-id')),
    );
    expect(line.errorCodes).toEqual([wrong.errors![0]!.extensions!.code]);

    const everything = (await Promise.all(SERVICES.map((s) => readFile(path.join(logDir, `${s}.log`), 'utf8').catch(() => '')))).join('\n');
    expect(everything).toContain('request completed');
    expect(everything).not.toContain(customer.token);
    expect(everything).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\./); // no JWT at all: customer or service-to-service tokens
    for (const secret of ['hunter2-secret-password', 'cookie-secret', 'not-a-real-token-secret', 'tok_visa'])
      expect(everything).not.toContain(secret);
  });
});
