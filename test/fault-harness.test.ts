import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster } from './support/cluster.js';
import type { Cluster } from './support/cluster.js';
import { eventually } from './support/stack.js';

/**
 * The fault harness itself, in the production shape: each service its own process. A billing
 * process killed with SIGKILL while orders keep coming loses no invoice once it is back (the
 * outbox and the consumer group hold the events), and a blackholed port hangs instead of refusing.
 */
let cluster: Cluster;
beforeAll(async () => {
  cluster = await startCluster();
}, 400_000);
afterAll(async () => {
  await cluster?.close();
});

describe('fault harness (one process per service)', () => {
  it('kill -9 of billing with orders pending: every order gets exactly one invoice after restart', async () => {
    const customer = await cluster.customer();
    const product = await cluster.product({ stock: 100 });
    const billingPid = cluster.pid('billing');
    await cluster.kill('billing');
    expect(() => process.kill(billingPid!, 0)).toThrow(); // really gone
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await cluster.gql(
        `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
        { input: { items: [{ productId: product.id, quantity: 1 }], idempotencyKey: `harness-${randomUUID()}` } },
        { token: customer.token },
      );
      expect(res.errors).toBeUndefined();
      ids.push(res.data.placeOrder.id);
    }
    await cluster.start('billing');
    const invoices = await eventually(
      async () => {
        const rows = await cluster.sql
          .billing`select order_id, count(*)::int as n from invoices where order_id = any(${ids}) group by order_id`;
        return rows.length === ids.length ? rows : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(invoices.every((r) => r.n === 1)).toBe(true);
  }, 90_000);

  it('a blackholed port answers nothing (no refusal) until restored', async () => {
    const url = `${cluster.baseUrl('catalog')}/health/live`;
    expect((await fetch(url)).status).toBe(200);
    await cluster.blackhole('catalog');
    const err = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err?.name).toBe('TimeoutError');
    await cluster.restore('catalog');
    expect((await fetch(url, { signal: AbortSignal.timeout(5_000) })).status).toBe(200);
  }, 30_000);

  it("every line a service writes is one JSON object, Apollo Server's and Apollo Gateway's own messages included", () => {
    const apollo: { name: string; msg: string }[] = [];
    for (const name of ['users', 'catalog', 'orders', 'billing', 'gateway'] as const) {
      for (const line of cluster.logs(name).split('\n').filter(Boolean)) {
        let entry: { component?: string; msg?: string; name?: string };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          throw new Error(`${name} wrote a line that is not JSON: ${line.slice(0, 300)}`);
        }
        if (entry.component === 'apollo') apollo.push({ name, msg: entry.msg ?? '' });
      }
    }
    // Apollo Gateway says so at info when it loads the supergraph: before, on the console as plain text.
    expect(apollo).toContainEqual({
      name: 'gateway',
      msg: expect.stringMatching(/^Gateway successfully loaded schema/),
    });
  });
});
