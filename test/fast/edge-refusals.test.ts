import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EDGE_STEPS } from '../../gateway/edge/index.js';
import type { EdgeStepName } from '../../gateway/edge/index.js';
import { createGatewayTester } from '../support/gateway-tester.js';
import type { GatewayTester } from '../support/gateway-tester.js';

/**
 * One refusal table, three transports: each rule of the edge (operation shape, cost, safelist,
 * partner keys, input rules, validation) refuses the same operation with the same code whether it
 * comes as an HTTP request, over a graphql-ws WebSocket, or as a subscription streamed over HTTP
 * (multipart and SSE). The subscription edge drifted from HTTP before (the safelist over WebSocket);
 * a rule added to the edge must show up in every column here. Every step the edge declares
 * (gateway/edge/, EDGE_STEPS) has a row, and its refusals are counted by that step on each transport.
 */

// A subgraph SDL (federation directives): plain text, not a document the linter checks against the API schema.
const THINGS = `
  extend schema
    @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key", "@composeDirective"])
    @link(url: "https://specs.supergraph.internal/event/v0.1", import: ["@event"])
    @composeDirective(name: "@event")

  directive @event(type: String!, entity: String!, id: String!, owner: String, stream: String) on FIELD_DEFINITION

  type Query {
    thing(id: ID!): Thing
  }
  type Thing @key(fields: "id") {
    id: ID!
    name(note: String): String!
    parent: Thing
  }
  type Subscription {
    thingChanged(thingId: ID!, after: String): Thing! @event(type: "ThingChanged", entity: "thing", id: "thingId")
  }
`;

let tester: GatewayTester;

beforeAll(async () => {
  tester = await createGatewayTester({
    subgraphs: {
      things: {
        typeDefs: THINGS,
        resolvers: { Query: { thing: (_: unknown, { id }: { id: string }) => ({ id, name: `thing ${id}` }) } },
      },
    },
    env: {
      LIMIT_MAX_DEPTH: '4',
      LIMIT_MAX_ALIASES: '2',
      LIMIT_MAX_OPERATION_COST: '2',
      SAFELIST_MODES: JSON.stringify({ locked: 'enforce' }),
      PARTNER_API_KEYS: '[]',
      // One request per user per hour: the admission row's user is over its limit after its first request.
      RATE_LIMIT_USER: '1',
      RATE_LIMIT_ANONYMOUS: '100000',
      RATE_LIMIT_WINDOW_SECONDS: '3600',
    },
  });
}, 60_000);
afterAll(() => tester?.close());

interface Refusal {
  rule: string;
  /** The refused operation as a query (HTTP, WebSocket) and as a subscription (every transport). */
  query: string;
  subscription: string;
  headers?: Record<string, string>;
  /** Sent with a token of this user (customer), after one request that spends the user's whole allowance. */
  overLimitUser?: string;
  /** The edge's step that refuses it (gateway/edge/); none for the rules of the operation's shape and Apollo's. */
  step?: EdgeStepName;
  /** The code every transport answers with; `401` rows refuse the caller itself (HTTP 401, WebSocket 4403). */
  code: string | 401;
}

const DEEP = '{ parent { parent { parent { parent { id } } } } }';
const TABLE: Refusal[] = [
  {
    rule: 'too deep (LIMIT_MAX_DEPTH)',
    query: `{ thing(id: "1") ${DEEP} }`,
    subscription: `subscription { thingChanged(thingId: "1") ${DEEP} }`,
    code: 'GRAPHQL_VALIDATION_FAILED',
  },
  {
    rule: 'too many aliases (LIMIT_MAX_ALIASES)',
    query: '{ thing(id: "1") { a: name b: name c: name } }',
    subscription: 'subscription { thingChanged(thingId: "1") { a: name b: name c: name } }',
    code: 'GRAPHQL_VALIDATION_FAILED',
  },
  {
    rule: 'too expensive (LIMIT_MAX_OPERATION_COST)',
    query: '{ thing(id: "1") { parent { parent { id } } } }',
    subscription: 'subscription { thingChanged(thingId: "1") { parent { parent { id } } } }',
    code: 'COST_ESTIMATED_TOO_EXPENSIVE',
  },
  {
    rule: 'not a field of the schema',
    query: '{ thing(id: "1") { nope } }',
    subscription: 'subscription { thingChanged(thingId: "1") { nope } }',
    code: 'GRAPHQL_VALIDATION_FAILED',
  },
  {
    rule: 'a NUL character in a string',
    query: '{ thing(id: "1") { name(note: "a\\u0000b") } }',
    subscription: 'subscription { thingChanged(thingId: "1") { name(note: "a\\u0000b") } }',
    code: 'BAD_USER_INPUT',
  },
  {
    rule: 'not on the safelist of an enforced client',
    query: '{ thing(id: "1") { id } }',
    subscription: 'subscription { thingChanged(thingId: "1") { id } }',
    headers: { 'apollographql-client-name': 'locked' },
    step: 'safelist',
    code: 'PERSISTED_QUERY_NOT_IN_LIST',
  },
  {
    rule: 'an unknown partner API key',
    query: '{ thing(id: "1") { id } }',
    subscription: 'subscription { thingChanged(thingId: "1") { id } }',
    headers: { 'x-api-key': 'pk_unknown_0000000000000000' },
    step: 'identity',
    code: 401,
  },
  {
    rule: 'over the request rate limit (RATE_LIMIT_USER)',
    query: '{ thing(id: "1") { id } }',
    subscription: 'subscription { thingChanged(thingId: "1") { id } }',
    overLimitUser: 'over-limit',
    step: 'admission',
    code: 'RATE_LIMITED',
  },
];

/** Users whose one request of the window is spent (once: a later spending request would itself be refused, and counted). */
const spent = new Set<string>();

/** The row's headers; for an over-limit user, its token, once its one request of the window is spent. */
async function headersOf(r: Refusal): Promise<Record<string, string> | undefined> {
  if (!r.overLimitUser) return r.headers;
  const headers = { ...r.headers, authorization: `Bearer ${await tester.token({ sub: r.overLimitUser, role: 'CUSTOMER' })}` };
  if (!spent.has(r.overLimitUser)) {
    spent.add(r.overLimitUser);
    expect((await tester.post({ query: '{ __typename }' }, headers)).status).toBe(200);
  }
  return headers;
}

/** HTTP: the query, POSTed. */
async function overHttp(r: Refusal, headers: Record<string, string> | undefined): Promise<string | number | undefined> {
  const res = await tester.post({ query: r.query }, headers);
  if (res.status === 401) return 401;
  return res.body?.errors?.[0]?.extensions?.code;
}

/** A subscription streamed over HTTP, multipart (Apollo clients) or SSE (graphql-sse). */
async function overStream(r: Refusal, headers: Record<string, string> | undefined, accept: string): Promise<string | number | undefined> {
  const controller = new AbortController();
  const res = await fetch(tester.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept, ...headers },
    body: JSON.stringify({ query: r.subscription }),
    signal: controller.signal,
  });
  if (res.status === 401) return 401;
  // A refusal ends the response; an accepted subscription stays open, waiting for events.
  const timer = setTimeout(() => controller.abort(), 10_000);
  const text = await res.text().catch(() => undefined);
  clearTimeout(timer);
  return text === undefined ? 'accepted, no refusal' : /"code":"([A-Z_]+)"/.exec(text)?.[1];
}

/** graphql-ws: connection_init (the headers as connectionParams), then the operation. */
function overWebSocket(headers: Record<string, string> | undefined, operation: string): Promise<string | number | undefined> {
  return new Promise((resolve) => {
    const socket = new WebSocket(tester.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    // Accepted and waiting for events: no refusal came (the table shows it as such).
    const timer = setTimeout(() => done('accepted, no refusal'), 10_000);
    const done = (value: string | number | undefined) => {
      clearTimeout(timer);
      socket.terminate();
      resolve(value);
    };
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: headers ?? {} })));
    socket.once('close', (code) => done(code === 4403 ? 401 : `closed ${code}`));
    socket.on('message', (data) => {
      const message = JSON.parse((data as Buffer).toString()) as { type: string; payload?: { extensions?: { code?: string } }[] };
      if (message.type === 'connection_ack') socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: operation } }));
      else if (message.type === 'error') done(message.payload?.[0]?.extensions?.code);
      else if (message.type === 'next')
        done((message.payload as unknown as { errors?: { extensions?: { code?: string } }[] }).errors?.[0]?.extensions?.code);
    });
  });
}

/** The table's row over every transport, in the columns the table compares. */
async function overEveryTransport(r: Refusal) {
  const headers = await headersOf(r);
  return {
    http: await overHttp(r, headers),
    'websocket query': await overWebSocket(headers, r.query),
    'websocket subscription': await overWebSocket(headers, r.subscription),
    multipart: await overStream(r, headers, 'multipart/mixed;subscriptionSpec="1.0",application/json'),
    sse: await overStream(r, headers, 'text/event-stream'),
  };
}

describe('one refusal table over every transport', () => {
  it.each(TABLE)('$rule: the same refusal over HTTP, WebSocket, multipart and SSE', async (r) => {
    const answers = await overEveryTransport(r);
    expect(answers).toEqual({ http: r.code, 'websocket query': r.code, 'websocket subscription': r.code, multipart: r.code, sse: r.code });
  });
});

/**
 * A step wired for HTTP alone (a middleware of its own, not a step of the edge object) would refuse
 * over HTTP and nowhere else; a step declared but skipped by one transport would leave that
 * transport's count at zero. Each declared step must refuse its row on every transport, by itself.
 */
describe('every step the edge declares runs on every transport', () => {
  const refusals = (step: string, transport: string) => tester.counter('gateway_edge_refusals_total', { step, transport });

  it('each declared step has a row in the refusal table', () => {
    const declared = EDGE_STEPS.map((s) => s.name);
    expect(new Set(TABLE.flatMap((r) => (r.step ? [r.step] : [])))).toEqual(new Set(declared));
  });

  it.each(EDGE_STEPS.map((s) => s.name))('%s refuses over HTTP, WebSocket, multipart and SSE', async (step) => {
    const row = TABLE.find((r) => r.step === step)!;
    const transports = ['http', 'websocket', 'multipart', 'sse'];
    const before = await Promise.all(transports.map((t) => refusals(step, t)));
    await overEveryTransport(row);
    const after = await Promise.all(transports.map((t) => refusals(step, t)));
    // The WebSocket column runs twice (a query and a subscription).
    expect(Object.fromEntries(transports.map((t, i) => [t, after[i]! - before[i]!]))).toEqual({
      http: 1,
      websocket: 2,
      multipart: 1,
      sse: 1,
    });
  });
});
