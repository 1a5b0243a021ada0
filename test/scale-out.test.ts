import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../scripts/free-port.js';
import { startLocalSupergraph } from '../scripts/local-supergraph.js';
import type { LocalSupergraph, ServiceName } from '../scripts/local-supergraph.js';
import { startNginx } from '../scripts/nginx.js';
import { ACCOUNT_PAGE } from './support/operations.js';
import { print } from 'graphql';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';
import { wsClient } from './support/ws-client.js';

/**
 * Production shape on loopback: two instances of the gateway and of each subgraph behind nginx
 * (gateways reach subgraphs through nginx too). Under steady load, one instance of every kind is
 * stopped gracefully; requests keep succeeding and subscriptions on the surviving gateway keep
 * receiving events.
 */
const SERVICES: ServiceName[] = ['users', 'catalog', 'orders', 'billing', 'gateway'];
let stack: Stack;
let second: LocalSupergraph;
let nginx: { stop(): Promise<void>; errorLog: string };
let lb: Record<ServiceName, number>;
let customer: TestUser;
let productId: string;

beforeAll(async () => {
  lb = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await freePort()]))) as Record<ServiceName, number>;
  const via = (s: ServiceName) => `http://127.0.0.1:${lb[s]}`;
  const drain = { SHUTDOWN_DRAIN_MS: '1000' };
  const extra = {
    users: drain,
    catalog: drain,
    billing: drain,
    gateway: {
      ...drain,
      SUBGRAPH_URLS: JSON.stringify({ users: via('users'), catalog: via('catalog'), orders: via('orders'), billing: via('billing') }),
      USERS_JWKS_URL: `${via('users')}/.well-known/jwks.json`,
    },
    orders: { ...drain, CATALOG_URL: via('catalog') },
  };
  stack = await startStack({ extra });
  const ports = Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await freePort()]))) as Record<ServiceName, number>;
  second = await startLocalSupergraph({ ...stack.topology, ports, extra });
  nginx = await startNginx(
    Object.fromEntries(
      SERVICES.map((s) => [s, { listen: lb[s], servers: [`127.0.0.1:${stack.topology.ports[s]}`, `127.0.0.1:${ports[s]}`] }]),
    ),
  );
  customer = await stack.customer('Scaled');
  productId = (await stack.product({ stock: 100_000 })).id;
}, 60_000);
afterAll(async () => {
  await nginx?.stop();
  await second?.close();
  await stack?.close();
});

async function request(query: string, variables: Record<string, unknown>) {
  try {
    const res = await fetch(`http://127.0.0.1:${lb.gateway}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${customer.token}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { errors?: unknown[] };
    return res.status === 200 && !body.errors ? null : `${res.status} ${JSON.stringify(body.errors)}`;
  } catch (err) {
    return String(err);
  }
}

describe('scale-out behind nginx', () => {
  it('loses no request while one instance of every service stops, and subscriptions on the survivor go on', async () => {
    const sub = wsClient(second.gatewayUrl, customer.token).subscribe('subscription { orderStatusChanged { id status } }');
    const failures: string[] = [];
    let sent = 0;
    // Counted, not timed: the load runs on both instances before anything stops, goes on while every
    // service's first instance stops, and each worker makes AFTER_STOP more requests once they have all
    // stopped (the survivors alone), however slow the machine. GIVE_UP only ends a hung run.
    const AFTER_STOP = 5;
    let stopped = false;
    const afterStop = Array.from({ length: 6 }, () => 0);
    const giveUp = Date.now() + 90_000;
    const worker = async (n: number) => {
      for (let i = 0; afterStop[n]! < AFTER_STOP && Date.now() < giveUp; i++) {
        const counted = stopped;
        sent += 1;
        const failure =
          i % 3 === 2
            ? await request(`mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`, {
                input: { items: [{ productId, quantity: 1 }], idempotencyKey: `scale-${n}-${i}-${randomUUID()}` },
              })
            : await request(print(ACCOUNT_PAGE), { n: 5 });
        if (failure) failures.push(failure);
        if (counted) afterStop[n]! += 1;
      }
    };
    const load = Promise.all(Array.from({ length: 6 }, (_, n) => worker(n)));
    await eventually(async () => (sent >= 12 ? true : undefined), { timeoutMs: 60_000 });
    await Promise.all(SERVICES.map((s) => stack.supergraph.stop(s)));
    stopped = true;
    await load;
    console.log(`scale-out: ${sent} requests, ${failures.length} failed while stopping one instance of each service`);
    if (failures.length) console.log((await import('node:fs')).readFileSync(nginx.errorLog, 'utf8').split('\n').slice(-8).join('\n'));
    expect(failures).toEqual([]);
    expect(afterStop).toEqual(afterStop.map(() => AFTER_STOP));

    // The surviving gateway still delivers events caused through the load balancer.
    const seen = sub.results.length;
    const res = await fetch(`http://127.0.0.1:${lb.gateway}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${customer.token}` },
      body: JSON.stringify({
        query: `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
        variables: { input: { items: [{ productId, quantity: 1 }], idempotencyKey: `after-${randomUUID()}` } },
      }),
    });
    const placed = (await res.json()).data.placeOrder.id;
    await eventually(async () => (sub.results.slice(seen).some((r) => r.data?.orderStatusChanged?.id === placed) ? true : undefined));
  }, 180_000);
});
