import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../scripts/free-port.js';
import { createBlackholes } from './support/cluster.js';
import { startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/**
 * A subgraph whose host is dead (its packets dropped by nft: no RST, no answer) costs a connect
 * deadline, not the response deadline: billing's URL points at a blackholed port, the gateway runs
 * with its defaults (3 s query deadline, breaker after 5 failures, connect deadline 500 ms).
 */
let stack: Stack;
let customer: TestUser;
const blackholes = createBlackholes();

beforeAll(async () => {
  const deadPort = await freePort();
  await blackholes.drop(deadPort);
  stack = await startStack({ extra: { gateway: { SUBGRAPH_URLS: JSON.stringify({ billing: `http://127.0.0.1:${deadPort}` }) } } });
  customer = await stack.customer('Dead neighbour');
  const product = await stack.product({ stock: 10 });
  const placed = await stack.gql(
    `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
    { input: { items: [{ productId: product.id, quantity: 1 }], idempotencyKey: `connect-${randomUUID()}` } },
    { token: customer.token },
  );
  expect(placed.errors).toBeUndefined();
}, 120_000);
afterAll(async () => {
  await stack?.close();
  await blackholes.close();
});

const breakerState = async () => {
  const text = await (await fetch(`${stack.supergraph.metricsUrls.gateway}/metrics`)).text();
  return Number(/gateway_subgraph_breaker_state\{[^}]*subgraph="billing"[^}]*\} (\d)/.exec(text)?.[1]);
};

describe('a dead subgraph host', () => {
  it('fails each fetch at the connect deadline, so the breaker opens after well under 3 s per user', async () => {
    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const res = await stack.gql(
        `query { me { name orders(first: 1) { edges { node { invoice { status } } } } } }`,
        {},
        { token: customer.token },
      );
      latencies.push(Math.round(performance.now() - started));
      expect(res.data.me.name).toBe('Dead neighbour');
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'SUBREQUEST_HTTP_ERROR', service: 'billing' });
      expect(res.errors?.[0]?.message).toMatch(/timed out|circuit open/);
    }
    // Before: 3,0xx ms each (the whole response deadline, five times). Loose bound for a loaded 2-core machine.
    expect(Math.max(...latencies), JSON.stringify(latencies)).toBeLessThan(1_500);
    expect(await breakerState()).toBe(2);
  });
});
