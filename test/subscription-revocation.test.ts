import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse, print } from 'graphql';
import WebSocket from 'ws';
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import { addTypenameToDocument } from '@apollo/client/utilities';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventStreamStats } from '../gateway/subscriptions/event-stream.js';
import { runPartner, writeApolloManifest } from './support/partner.js';
import { apolloHttpClient, errorCodes } from './support/http-subscriptions.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/**
 * Revoking a partner's key ends its open subscriptions on every transport, within the registry's
 * poll interval, with UNAUTHENTICATED (once, SSE, multipart and graphql-ws streams opened with a
 * revoked key kept receiving events: partner streams have no expiry).
 */
const POLL_MS = 500;
const PING = 'query StreamerPing { __typename }';
let stack: Stack;
let registry: string;
let admin: TestUser;

const partner = (...args: string[]) => runPartner(registry, args);

beforeAll(async () => {
  registry = await mkdtemp(path.join(os.tmpdir(), 'client-registry-'));
  stack = await startStack({ extra: { gateway: { CLIENT_REGISTRY_DIR: registry, CLIENT_REGISTRY_POLL_MS: String(POLL_MS) } } });
  admin = await stack.admin();
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

interface Ending {
  codes: unknown[];
  at: number;
}

describe('revoking a partner key', () => {
  it('ends its SSE, multipart and graphql-ws subscriptions with UNAUTHENTICATED within the poll interval', async () => {
    const productId = (await stack.product({ stock: 1_000 })).id;
    const key = (await partner('create', 'streamer')).trim();
    // Apollo's manifest form: the text Apollo Client sends (with __typename), which the other clients send too.
    const body = print(addTypenameToDocument(parse('subscription RevokeWatch($p: ID!) { stockChanged(productId: $p) { id stock } }')));
    const manifest = path.join(registry, 'streamer-ops.json');
    await writeApolloManifest(manifest, [
      { name: 'RevokeWatch', type: 'subscription', body },
      { name: 'StreamerPing', type: 'query', body: PING },
    ]);
    await partner('publish', 'streamer', '1', manifest);
    // The manifest is live on the gateway once its query runs with the key.
    await eventually(async () => {
      const r = await fetch(stack.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: JSON.stringify({ query: PING }),
      });
      return r.status === 200 ? true : undefined;
    });
    const variables = { p: productId };
    const received = { sse: 0, multipart: 0, ws: 0 };
    const endings: Partial<Record<keyof typeof received, Ending>> = {};
    const ended = (transport: keyof typeof received) => (codes: unknown[]) => (endings[transport] ??= { codes, at: performance.now() });
    const codesOf = (errors: unknown) =>
      Array.isArray(errors) ? errors.map((e: { extensions?: { code?: unknown } }) => e.extensions?.code) : [];
    const base = eventStreamStats.open;

    const sse = createSseClient({ url: stack.url, headers: { 'x-api-key': key }, retryAttempts: 0 });
    sse.subscribe(
      { query: body, variables },
      {
        next: (r) => (r.errors ? ended('sse')(codesOf(r.errors)) : received.sse++),
        error: (e) => ended('sse')(codesOf(e)),
        complete: () => ended('sse')([]),
      },
    );
    const apollo = apolloHttpClient(stack.url, undefined, { 'x-api-key': key });
    const multipart = apollo.subscribe(body, variables);
    // Apollo Client hands a stream-ending error over as the last result, then completes.
    void multipart.ended.then((e) => ended('multipart')(errorCodes(e ? { error: e } : multipart.results.at(-1))));
    const ws = createWsClient({
      url: stack.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { 'x-api-key': key },
      retryAttempts: 0,
    });
    ws.subscribe(
      { query: body, variables },
      {
        next: (r) => (r.errors ? ended('ws')(codesOf(r.errors)) : received.ws++),
        error: (e) => ended('ws')(codesOf(e)),
        complete: () => ended('ws')([]),
      },
    );
    try {
      await eventually(async () => (eventStreamStats.open >= base + 3 ? true : undefined), { timeoutMs: 20_000 });
      await stack.gql(`mutation($id: ID!) { adjustStock(productId: $id, delta: 1) { stock } }`, { id: productId }, { token: admin.token });
      await eventually(async () => (received.sse > 0 && multipart.results.length > 0 && received.ws > 0 ? true : undefined));

      const keyId = /key (streamer-\S+)\s+active/.exec(await partner('list'))![1]!;
      await partner('revoke', 'streamer', keyId);
      const revokedAt = performance.now();
      const all = await eventually(
        async () => (endings.sse && endings.multipart && endings.ws ? (endings as Required<typeof endings>) : undefined),
        { timeoutMs: 20_000 },
      ).catch(() => endings);
      console.log(
        `after revoke: ${
          Object.entries(all)
            .map(([t, e]) => `${t} ended in ${Math.round(e.at - revokedAt)} ms with ${JSON.stringify(e.codes)}`)
            .join('; ') || 'nothing ended'
        }`,
      );
      for (const transport of ['sse', 'multipart', 'ws'] as const) {
        expect(all[transport]?.codes, transport).toEqual(['UNAUTHENTICATED']);
        // Within the poll interval, plus a loaded machine's slack.
        expect(all[transport]!.at - revokedAt, transport).toBeLessThan(POLL_MS + 3_000);
      }
      // Every event stream of the revoked key is closed on the gateway: nothing more can arrive.
      await eventually(async () => (eventStreamStats.open <= base ? true : undefined));
    } finally {
      sse.dispose();
      apollo.stop();
      await ws.dispose();
    }
  }, 120_000);
});
