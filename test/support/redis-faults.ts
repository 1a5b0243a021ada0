import { randomUUID } from 'node:crypto';
import type { Cluster } from './cluster.js';
import type { TestUser } from './stack.js';

/**
 * Steady load for the Redis fault tests (test/redis-*.test.ts): through every given gateway, an
 * anonymous product query and a signed-in account query in turn, a readiness probe, and placeOrder
 * calls; every answer is recorded with its time, so a test can judge the fault's window alone.
 */
export interface Sample {
  at: number;
  gateway: number;
  kind: 'anonymous' | 'signed-in';
  ms: number;
  /** Null when the answer had data and no errors; else the codes (or the transport error). */
  failure: string | null;
}
export interface Probe {
  at: number;
  gateway: number;
  status: number;
  ms: number;
}
export interface OrderAttempt {
  at: number;
  id: string | null;
  /** The error code when refused (null on success); `UNCODED` when an error came without one. */
  code: string | null;
  quantity: number;
}

const ANONYMOUS = 'query($id: ID!) { product(id: $id) { id name stock price { amountCents currency } } }';
const SIGNED_IN = 'query { me { id name orders(first: 5) { edges { node { id status total { amountCents } } } } } }';
const PLACE = 'mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }';
const PROBE_TIMEOUT_MS = 2_500;

async function post(url: string, query: string, variables: Record<string, unknown>, token?: string) {
  const started = performance.now();
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(60_000),
    });
    const body = (await res.json()) as { data?: Record<string, unknown> | null; errors?: { extensions?: { code?: string } }[] };
    return { ms: performance.now() - started, body, failure: null as string | null };
  } catch (err) {
    return { ms: performance.now() - started, body: null, failure: `transport: ${(err as Error).message}` };
  }
}

const failureOf = (body: { data?: unknown; errors?: { extensions?: { code?: string } }[] } | null) =>
  body?.errors?.length ? body.errors.map((e) => e.extensions?.code ?? 'UNCODED').join(',') : body?.data ? null : 'NO_DATA';

export interface Load {
  samples: Sample[];
  probes: Probe[];
  orders: OrderAttempt[];
  stop(): Promise<void>;
}

/** Starts the load; `stop` ends every loop and waits for what is in flight. */
export function startLoad(opts: {
  cluster: Cluster;
  gateways: number;
  customer: TestUser;
  productId: string;
  orderEveryMs?: number;
}): Load {
  const { cluster } = opts;
  const load: Load = { samples: [], probes: [], orders: [], stop: async () => {} };
  let running = true;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const queries = async (gateway: number) => {
    const url = `${cluster.baseUrl('gateway', gateway)}/graphql`;
    for (let i = 0; running; i++) {
      const kind = i % 2 === 0 ? 'anonymous' : 'signed-in';
      const at = Date.now();
      const res =
        kind === 'anonymous' ? await post(url, ANONYMOUS, { id: opts.productId }) : await post(url, SIGNED_IN, {}, opts.customer.token);
      load.samples.push({ at, gateway, kind, ms: res.ms, failure: res.failure ?? failureOf(res.body) });
      await sleep(50);
    }
  };
  const probes = async (gateway: number) => {
    while (running) {
      const at = Date.now();
      const started = performance.now();
      const res = await fetch(`${cluster.baseUrl('gateway', gateway)}/health/ready`, {
        signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
      }).catch(() => null);
      load.probes.push({ at, gateway, status: res?.status ?? 0, ms: performance.now() - started });
      await sleep(250);
    }
  };
  const orders = async () => {
    for (let i = 0; running; i++) {
      const gateway = i % opts.gateways;
      const quantity = 1 + (i % 3);
      const at = Date.now();
      const input = { items: [{ productId: opts.productId, quantity }], idempotencyKey: `fault-${randomUUID()}` };
      const res = await post(`${cluster.baseUrl('gateway', gateway)}/graphql`, PLACE, { input }, opts.customer.token);
      const id = (res.body?.data?.placeOrder as { id?: string } | null | undefined)?.id ?? null;
      load.orders.push({ at, id, code: id ? null : (res.failure ?? failureOf(res.body)), quantity });
      await sleep(opts.orderEveryMs ?? 300);
    }
  };
  const loops = [orders()];
  for (let g = 0; g < opts.gateways; g++) loops.push(queries(g), probes(g));
  load.stop = async () => {
    running = false;
    await Promise.all(loops);
  };
  return load;
}

/** The pth percentile (0..100) of a list of numbers. */
export const percentile = (values: number[], p: number) => {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

/** What the load saw between `from` and `to` (ms timestamps). */
export function summarize(load: Load, from: number, to: number) {
  const inWindow = <T extends { at: number }>(list: T[]) => list.filter((x) => x.at >= from && x.at <= to);
  const samples = inWindow(load.samples);
  const probes = inWindow(load.probes);
  const ms = samples.map((s) => s.ms);
  return {
    queries: samples.length,
    failed: samples.filter((s) => s.failure).map((s) => `${s.kind}@${s.gateway}: ${s.failure}`),
    p50: Math.round(percentile(ms, 50)),
    p99: Math.round(percentile(ms, 99)),
    max: Math.round(Math.max(0, ...ms)),
    probes: probes.length,
    probesReady: probes.filter((p) => p.status === 200 && p.ms <= PROBE_TIMEOUT_MS).length,
    probeMaxMs: Math.round(Math.max(0, ...probes.map((p) => p.ms))),
    orders: inWindow(load.orders).length,
  };
}

/**
 * The money and stock invariants after a fault: every order placed has exactly one invoice (and no
 * invoice exists for an order that does not), and the product's stock went down by exactly what the
 * orders hold. Polls until both hold or the time is up (a reservation whose order failed is released by
 * catalog's reaper).
 */
export async function orderInvariants(cluster: Cluster, productId: string, initialStock: number, timeoutMs: number) {
  const read = async () => {
    const orders = await cluster.sql.orders<{ id: string; quantity: number }[]>`select o.id, coalesce(sum(i.quantity), 0)::int as quantity
      from orders o join order_items i on i.order_id = o.id where i.product_id = ${productId} group by o.id`;
    const ids = orders.map((o) => o.id);
    const invoices = await cluster.sql.billing<{ order_id: string; n: number }[]>`select order_id, count(*)::int as n from invoices
      where order_id = any(${ids}) group by order_id`;
    const [product] = await cluster.sql.catalog<{ stock: number }[]>`select stock from products where id = ${productId}`;
    const once = invoices.filter((r) => r.n === 1).length;
    return {
      orders: ids.length,
      invoicedOnce: once,
      invoicedTwice: invoices.filter((r) => r.n > 1).length,
      stockDrift: initialStock - orders.reduce((sum, o) => sum + o.quantity, 0) - product!.stock,
    };
  };
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while ((last.invoicedOnce < last.orders || last.stockDrift !== 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    last = await read();
  }
  return last;
}
