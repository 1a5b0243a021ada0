import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { afterAll, describe, expect, it } from 'vitest';
import { readSubscriptionFields } from '../gateway/subscriptions/fields.js';
import { createSupergraph } from '../gateway/supergraph.js';
import { eventStreamStats } from '../gateway/subscriptions/event-stream.js';
import { EVENT_STREAMS } from '../platform/events/types.js';
import type { EventType } from '../platform/events/types.js';
import { ROOT, SUPERGRAPH_FILE, readRoverConfig } from '../scripts/compose-supergraph.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack } from './support/stack.js';
import { apolloHttpClient } from './support/http-subscriptions.js';
import { wsClient } from './support/ws-client.js';

/**
 * A subscription is declared by the subgraph that owns it (`@event` in its SDL, composed into the
 * supergraph); the gateway knows none by name.
 */
const committed = readSubscriptionFields(createSupergraph(await readFile(SUPERGRAPH_FILE, 'utf8')));

describe('subscriptions declared in the subgraph SDL', () => {
  it('every declared subscription reads the stream its event type is produced into', () => {
    expect([...committed.keys()].sort()).toEqual(['invoiceStatusChanged', 'orderStatusChanged', 'stockChanged']);
    for (const field of committed.values()) expect(field.stream).toBe(EVENT_STREAMS[field.eventType as EventType]);
  });

  it('nothing under gateway/ names a subscription field or an event type of this domain', async () => {
    const names = [...committed.keys(), ...Object.keys(EVENT_STREAMS)];
    const files = (await readdir(path.join(ROOT, 'gateway'), { recursive: true })).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      const text = await readFile(path.join(ROOT, 'gateway', file), 'utf8');
      for (const name of names) expect(text.includes(name), `gateway/${file} names ${name}`).toBe(false);
    }
  });

  it('a declaration whose entity query does not exist stops the gateway, naming it', async () => {
    const sdl = await composeWith('orderPlaced(after: String): Order! @event(type: "OrderPlaced", entity: "noSuchOrder", id: "orderId")');
    expect(() => readSubscriptionFields(createSupergraph(sdl))).toThrow(
      /Subscription\.orderPlaced @event: the supergraph has no Query\.noSuchOrder/,
    );
  });
});

describe('a subscription added in a subgraph SDL alone', () => {
  let stack: Stack | undefined;
  afterAll(async () => stack?.close());

  it('is served with its events, owner rule included, without a gateway change', async () => {
    // A new field on a copy of orders' SDL, fed by an event no subscription used before.
    const field = 'orderPlaced(after: String): Order! @event(type: "OrderPlaced", entity: "order", id: "orderId", owner: "customerId")';
    const dir = await mkdtemp(path.join(os.tmpdir(), 'supergraph-sdl-'));
    const supergraphPath = path.join(dir, 'supergraph.graphql');
    await writeFile(supergraphPath, await composeWith(field));
    stack = await startStack({ extra: { gateway: { SUPERGRAPH_PATH: supergraphPath } } });
    const product = await stack.product({ stock: 100, priceCents: 900 });
    const [ann, bob] = [await stack.customer('Ann Placer'), await stack.customer('Bob Placer')];
    const base = eventStreamStats.open;
    const annHttp = apolloHttpClient(stack.url, ann.token);
    const bobWs = wsClient(stack.url, bob.token);
    try {
      const annSub = annHttp.subscribe('subscription { orderPlaced { id number customer { name } total { amountCents } } }');
      const bobSub = bobWs.subscribe('subscription { orderPlaced { id } }');
      await eventually(async () => (eventStreamStats.open >= base + 2 ? true : undefined));
      const place = async (token: string, key: string) =>
        (
          await stack!.gql(
            `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id number } }`,
            { input: { items: [{ productId: product.id, quantity: 1 }], idempotencyKey: key } },
            { token },
          )
        ).data.placeOrder;
      const annOrder = await place(ann.token, `sdl-ann-${Date.now()}`);
      const bobOrder = await place(bob.token, `sdl-bob-${Date.now()}`);
      const annEvent = await annSub.nth(1);
      expect(annEvent.data.orderPlaced).toMatchObject({
        id: annOrder.id,
        number: annOrder.number,
        customer: { name: 'Ann Placer' },
        total: { amountCents: 900 },
      });
      // Bob's first event is his own order: Ann's never reached him (owner: "customerId").
      expect((await bobSub.nth(1)).data.orderPlaced.id).toBe(bobOrder.id);
      expect(annSub.results).toHaveLength(1);
    } finally {
      annHttp.stop();
      await bobWs.dispose();
    }
  });
});

/** The supergraph from rover.yaml's subgraphs, with one more Subscription field in orders' SDL. */
async function composeWith(field: string): Promise<string> {
  const config = await readRoverConfig();
  const services = await Promise.all(
    Object.entries(config.subgraphs).map(async ([name, sg]) => {
      let sdl = await readFile(path.join(ROOT, sg.schema.file), 'utf8');
      if (name === 'orders') sdl = sdl.replace(/type Subscription \{\n/, (head) => `${head}  ${field}\n`);
      return { name, url: sg.routing_url, typeDefs: parse(sdl) };
    }),
  );
  const result = composeServices(services);
  if (result.errors) throw new Error(result.errors.map((e) => e.message).join('\n'));
  return result.supergraphSdl;
}
