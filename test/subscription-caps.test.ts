import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventStreamStats } from '../gateway/subscriptions/event-stream.js';
import { operationId } from '../gateway/persisted-queries/manifest.js';
import { mintPartnerKey } from '../gateway/identity/partner-keys.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack } from './support/stack.js';

/**
 * The per-user and per-partner caps on HTTP subscription streams hold across gateways (once, each
 * gateway counted its own: HTTP_SUBSCRIPTIONS_MAX_PER_USER 20 allowed 20 per gateway).
 */
let stack: Stack;
let second: { url: string };
const partner = mintPartnerKey('cap-partner');
const WATCH = 'subscription CapWatch($p: ID!) { stockChanged(productId: $p) { id stock } }';
const open: AbortController[] = [];

beforeAll(async () => {
  const manifests = await mkdtemp(path.join(os.tmpdir(), 'caps-pq-'));
  const operations = [{ id: operationId(WATCH), name: 'CapWatch', type: 'subscription', body: WATCH }];
  await writeFile(
    path.join(manifests, 'cap-partner.json'),
    JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations }),
  );
  stack = await startStack({
    extra: {
      gateway: {
        HTTP_SUBSCRIPTIONS_MAX_PER_USER: '2',
        HTTP_SUBSCRIPTIONS_MAX_PER_PARTNER: '2',
        PARTNER_API_KEYS: JSON.stringify([partner.entry]),
        PERSISTED_QUERIES_DIR: manifests,
      },
    },
  });
  second = await stack.extraGateway();
}, 120_000);
afterAll(async () => {
  open.forEach((c) => c.abort());
  await stack?.close();
});

/** Opens a multipart subscription stream; its status and code (a refusal's), and how to hang up. */
async function subscribe(url: string, headers: Record<string, string>, query: string, variables: Record<string, unknown>) {
  const controller = new AbortController();
  open.push(controller);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'multipart/mixed;subscriptionSpec="1.0",application/json', ...headers },
    body: JSON.stringify({ query, variables }),
    signal: controller.signal,
  });
  const code =
    res.status === 200 ? undefined : ((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code;
  return { status: res.status, code, close: () => controller.abort() };
}

const streamsOpen = (n: number) => eventually(async () => (eventStreamStats.open === n ? true : undefined));

describe('HTTP subscription caps across two gateways', () => {
  it('per user: two streams on two gateways fill the cap of 2; closing one frees a slot on the other', async () => {
    const customer = await stack.customer();
    const auth = { authorization: `Bearer ${customer.token}` };
    const query = 'subscription { orderStatusChanged { id } }';
    const base = eventStreamStats.open;
    const onFirst = await subscribe(stack.url, auth, query, {});
    const onSecond = await subscribe(second.url, auth, query, {});
    expect([onFirst.status, onSecond.status]).toEqual([200, 200]);
    await streamsOpen(base + 2);
    const third = await subscribe(second.url, auth, query, {});
    console.log(`per user, third stream on the second gateway: ${third.status} ${third.code ?? ''}`);
    expect(third).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    onFirst.close();
    await streamsOpen(base + 1);
    const again = await eventually(async () => {
      const r = await subscribe(second.url, auth, query, {});
      return r.status === 200 ? r : undefined;
    });
    again.close();
    onSecond.close();
    await streamsOpen(base);
  });

  it('per partner key: the same across gateways', async () => {
    const productId = (await stack.product()).id;
    const key = { 'x-api-key': partner.key };
    const base = eventStreamStats.open;
    const streams = [await subscribe(stack.url, key, WATCH, { p: productId }), await subscribe(second.url, key, WATCH, { p: productId })];
    expect(streams.map((s) => s.status)).toEqual([200, 200]);
    await streamsOpen(base + 2);
    const third = await subscribe(stack.url, key, WATCH, { p: productId });
    console.log(`per partner, third stream on the first gateway: ${third.status} ${third.code ?? ''}`);
    expect(third).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
    streams.forEach((s) => s.close());
    await streamsOpen(base);
  });
});
