import { mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse, print, visit } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../platform/paths.js';
import { sha256 } from '../gateway/supergraph.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';
import { wsClient } from './support/ws-client.js';
import type { TestWsClient } from './support/ws-client.js';

/**
 * Supergraph hot reload under steady load through two gateways that follow one SUPERGRAPH_PATH.
 * The catalog subgraph serves every field of the committed supergraph throughout; the supergraph
 * decides what the graph has, as when a subgraph ships a field before the composed supergraph
 * includes it, or the supergraph drops a field ahead of the subgraph:
 *   v0  the committed supergraph without Product.description (the start);
 *   v1  the committed supergraph: adds Product.description;
 *   v2  v1 without Product.createdAt: removes a field;
 *   v3  v2 cut in half (a broken file): refused, v2 keeps serving.
 */
const POLL_MS = 1_000;
/** Reload deadline: the poll interval plus room for a loaded 2-core machine (the folder watch usually reacts at once). */
const RELOAD_DEADLINE_MS = POLL_MS + 10_000;

function withoutField(sdl: string, type: string, field: string): string {
  const doc = visit(parse(sdl), {
    ObjectTypeDefinition: (node) =>
      node.name.value === type ? { ...node, fields: node.fields?.filter((f) => f.name.value !== field) } : undefined,
  });
  return print(doc);
}

const STABLE = 'query Stable($id: ID!) { product(id: $id) { id name stock } }';
const DESCRIPTION = 'query Description($id: ID!) { product(id: $id) { id description } }';
const CREATED = 'query Created($id: ID!) { product(id: $id) { id createdAt } }';

let stack: Stack;
let gateways: { url: string; metricsUrl: string }[];
let supergraphFile: string;
let committed: string;
let admin: TestUser;
let productId: string;
let ws: TestWsClient;

/** What a deploy tool does: the new file written aside, then renamed over the old one (never half-written). */
async function publish(sdl: string): Promise<number> {
  const tmp = `${supergraphFile}.tmp`;
  await writeFile(tmp, sdl);
  await rename(tmp, supergraphFile);
  return Date.now();
}

async function post(url: string, query: string): Promise<{ status: number; codes: string[]; data: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables: { id: productId } }),
  });
  const body = (await res.json()) as { data?: any; errors?: { extensions?: { code?: string } }[] };
  return { status: res.status, codes: (body.errors ?? []).map((e) => e.extensions?.code ?? '?'), data: body.data };
}

const readiness = async (url: string) => (await fetch(url.replace(/\/graphql$/, '/health/ready'))).json();

/** Polls every gateway until `check` holds on each; the time from `since` until the last one did. */
async function servedEverywhere(since: number, check: (url: string) => Promise<boolean>): Promise<number> {
  const times = await Promise.all(
    gateways.map((g) =>
      eventually(async () => ((await check(g.url)) ? Date.now() - since : undefined), { timeoutMs: RELOAD_DEADLINE_MS, intervalMs: 25 }),
    ),
  );
  return Math.max(...times);
}

beforeAll(async () => {
  committed = await readFile(path.join(ROOT, 'schema/supergraph.graphql'), 'utf8');
  supergraphFile = path.join(await mkdtemp(path.join(os.tmpdir(), 'supergraph-reload-')), 'supergraph.graphql');
  await writeFile(supergraphFile, withoutField(committed, 'Product', 'description'));
  stack = await startStack({ extra: { gateway: { SUPERGRAPH_PATH: supergraphFile, SUPERGRAPH_POLL_INTERVAL_MS: String(POLL_MS) } } });
  const second = await stack.extraGateway();
  gateways = [
    { url: stack.url, metricsUrl: stack.supergraph.metricsUrls.gateway },
    { url: second.url, metricsUrl: second.metricsUrl },
  ];
  admin = await stack.admin();
  productId = (await stack.product({ stock: 100_000 })).id;
  ws = wsClient(second.url);
}, 90_000);
afterAll(async () => {
  await ws?.dispose();
  await stack?.close();
});

/** Steady load on both gateways until stopped: every request is checked against the schema it was validated on. */
function startLoad() {
  const failures: string[] = [];
  let sent = 0;
  let running = true;
  const worker = async (n: number) => {
    for (let i = n; running; i++) {
      const url = gateways[i % 2]!.url;
      const query = [STABLE, DESCRIPTION, CREATED][i % 3]!;
      sent += 1;
      try {
        const { status, codes } = await post(url, query);
        // A validation refusal means the field was not in the schema the request started on: correct.
        const refusedByItsSchema = query !== STABLE && status === 400 && codes.length === 1 && codes[0] === 'GRAPHQL_VALIDATION_FAILED';
        if (!(status === 200 && codes.length === 0) && !refusedByItsSchema)
          failures.push(`${query.split(' ')[1]} ${status} ${codes.join(',')}`);
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const workers = Promise.all(Array.from({ length: 4 }, (_, n) => worker(n)));
  return {
    failures,
    sent: () => sent,
    async stop() {
      running = false;
      await workers;
    },
  };
}

async function adjustStock(): Promise<number> {
  const res = await stack.gql(
    `mutation($id: ID!) { adjustStock(productId: $id, delta: 1) { stock } }`,
    { id: productId },
    { token: admin.token },
  );
  return res.data.adjustStock.stock as number;
}

describe('supergraph hot reload through two gateways', () => {
  it('adds a field, removes a field, refuses a broken supergraph: no valid request fails, subscriptions keep delivering', async () => {
    const stock = ws.subscribe('subscription($p: ID!) { stockChanged(productId: $p) { id stock } }', { p: productId });
    const usesCreatedAt = ws.subscribe('subscription($p: ID!) { stockChanged(productId: $p) { id createdAt } }', { p: productId });
    /** A stock change, and the open subscription's event for it. */
    const delivered = async (timeoutMs: number) => {
      const now = await adjustStock();
      await eventually(async () => (stock.results.some((r) => r.data?.stockChanged?.stock === now) ? true : undefined), { timeoutMs });
      return now;
    };
    // The subscriptions are open once an event reaches them (a change made before they opened is not replayed: try again).
    let expected = await eventually(() => delivered(3_000), { timeoutMs: 30_000, intervalMs: 0 });
    expect((await post(gateways[0]!.url, DESCRIPTION)).codes).toEqual(['GRAPHQL_VALIDATION_FAILED']);

    const load = startLoad();
    const delivers = async () => {
      const now = await adjustStock();
      await eventually(async () => (stock.results.some((r) => r.data?.stockChanged?.stock === now) ? true : undefined), {
        timeoutMs: 20_000,
      });
      expected = now;
    };

    // v1 adds Product.description.
    const v1 = committed;
    const addedIn = await servedEverywhere(
      await publish(v1),
      async (url) => (await post(url, DESCRIPTION)).data?.product?.description !== undefined,
    );
    await delivers();

    // v2 removes Product.createdAt: requests validated before the swap still finish; later ones are refused by validation.
    const v2 = withoutField(committed, 'Product', 'createdAt');
    const removedIn = await servedEverywhere(
      await publish(v2),
      async (url) => (await post(url, CREATED)).codes[0] === 'GRAPHQL_VALIDATION_FAILED',
    );
    await delivers();
    // The subscription selecting the removed field ends, with the code and where to resume.
    await eventually(async () => usesCreatedAt.results.at(-1)?.errors?.[0]?.extensions?.code === 'GRAPHQL_VALIDATION_FAILED' || undefined, {
      timeoutMs: 20_000,
    });
    await usesCreatedAt.ended;

    // v3 is broken: refused by both gateways, v2 keeps serving and says so.
    const v3 = v2.slice(0, v2.length / 2);
    await publish(v3);
    const statuses = await Promise.all(
      gateways.map((g) =>
        eventually(
          async () => {
            const ready = await readiness(g.url);
            return ready.supergraphStatus?.lastRefused ? ready : undefined;
          },
          { timeoutMs: RELOAD_DEADLINE_MS },
        ),
      ),
    );
    for (const ready of statuses) {
      expect(ready.status).toBe('ready');
      expect(ready.supergraphStatus).toMatchObject({ hash: sha256(v2), lastRefused: { hash: sha256(v3) } });
    }
    for (const g of gateways) {
      const metrics = await (await fetch(`${g.metricsUrl}/metrics`)).text();
      expect(metrics).toMatch(/gateway_supergraph_reloads_total\{[^}]*result="refused"[^}]*\} 1\b/);
      expect(metrics).toMatch(/gateway_supergraph_reloads_total\{[^}]*result="loaded"[^}]*\} 2\b/);
      expect((await post(g.url, DESCRIPTION)).data.product.description).toEqual(expect.any(String));
    }
    await delivers();

    await load.stop();
    console.log(
      `supergraph reload: added field served on both gateways ${addedIn} ms after the file changed, removal ${removedIn} ms; ` +
        `${load.sent()} requests under load, ${load.failures.length} failed`,
    );
    expect(load.failures).toEqual([]);
    expect(load.sent()).toBeGreaterThan(30);
    expect(stock.results.every((r) => !r.errors)).toBe(true);
    expect(expected).toBeGreaterThan(100_000);
  }, 180_000);
});
