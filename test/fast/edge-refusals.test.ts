import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayTester } from '../support/gateway-tester.js';
import type { GatewayTester } from '../support/gateway-tester.js';

/**
 * One refusal table, three transports: each rule of the edge (operation shape, cost, safelist,
 * partner keys, input rules, validation) refuses the same operation with the same code whether it
 * comes as an HTTP request, over a graphql-ws WebSocket, or as a subscription streamed over HTTP
 * (multipart and SSE). The subscription edge drifted from HTTP before (the safelist over WebSocket);
 * a rule added to the edge must show up in every column here.
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
    code: 'PERSISTED_QUERY_NOT_IN_LIST',
  },
  {
    rule: 'an unknown partner API key',
    query: '{ thing(id: "1") { id } }',
    subscription: 'subscription { thingChanged(thingId: "1") { id } }',
    headers: { 'x-api-key': 'pk_unknown_0000000000000000' },
    code: 401,
  },
];

/** HTTP: the query, POSTed. */
async function overHttp(r: Refusal): Promise<string | number | undefined> {
  const res = await tester.post({ query: r.query }, r.headers);
  if (res.status === 401) return 401;
  return res.body?.errors?.[0]?.extensions?.code;
}

/** A subscription streamed over HTTP, multipart (Apollo clients) or SSE (graphql-sse). */
async function overStream(r: Refusal, accept: string): Promise<string | number | undefined> {
  const controller = new AbortController();
  const res = await fetch(tester.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept, ...r.headers },
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
function overWebSocket(r: Refusal, operation: string): Promise<string | number | undefined> {
  return new Promise((resolve) => {
    const socket = new WebSocket(tester.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    // Accepted and waiting for events: no refusal came (the table shows it as such).
    const timer = setTimeout(() => done('accepted, no refusal'), 10_000);
    const done = (value: string | number | undefined) => {
      clearTimeout(timer);
      socket.terminate();
      resolve(value);
    };
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: r.headers ?? {} })));
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

describe('one refusal table over every transport', () => {
  it.each(TABLE)('$rule: the same refusal over HTTP, WebSocket, multipart and SSE', async (r) => {
    const answers = {
      http: await overHttp(r),
      'websocket query': await overWebSocket(r, r.query),
      'websocket subscription': await overWebSocket(r, r.subscription),
      multipart: await overStream(r, 'multipart/mixed;subscriptionSpec="1.0",application/json'),
      sse: await overStream(r, 'text/event-stream'),
    };
    expect(answers).toEqual({ http: r.code, 'websocket query': r.code, 'websocket subscription': r.code, multipart: r.code, sse: r.code });
  });
});
