import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { print as printDocument } from 'graphql';
import { ROOT } from '../platform/paths.js';
import { ACCOUNT_PAGE } from '../test/support/operations.js';
import type { BenchData } from './load-data.js';
import type { Auth, LoadResult } from './load-worker.js';
import { runJob } from './processes.js';
import type { GatewayName } from './report.js';
import { SETTINGS } from './settings.js';
import type { Stack } from './stack.js';
import { createUserTokenSigner } from './user-tokens.js';

export const STOREFRONT = `query Storefront($c: ID!) { products(filter: {categoryId: $c}, first: 20) { edges { node {
  name price { amountCents currency } stock category { name } shippingEstimate { amountCents } } } } }`;
/** The same page with each product's id, so the mixed workload can tell which stock it saw. */
export const STOREFRONT_IDS = STOREFRONT.replace('node {\n', 'node { id\n');

export interface HttpWorkload {
  auth: BenchData['users'] | null;
  bodies: (g: GatewayName) => string[];
  /**
   * `pass` (the default, BENCH_WARMUP_PASS=1): the warm-up sends every key once (every body and every
   * user), so the measured run sees the keys again, as a running system does; `first-visit`: no
   * key is ever repeated for a gateway (a time warm-up, then the rotation goes on where it left off).
   */
  keys?: 'pass' | 'first-visit';
}

/** Credentials: user JWTs for ours; for the peers, the identities a gateway-signed service token carries. */
async function credentialsOf(stack: Stack) {
  const { data, keys } = stack;
  const sign = await createUserTokenSigner(keys);
  const customers = data.users.filter((u) => u.role === 'CUSTOMER');
  // Two disjoint samples (account readers, buyers), each at most half of the customers.
  const sample = (from: number) => customers.slice(from, from + Math.min(SETTINGS.rotatedUsers, Math.floor(customers.length / 2)));
  const tokens = new Map<string, Promise<string>>();
  const authFor = async (gateway: GatewayName, users: typeof customers | null): Promise<Auth> => {
    if (gateway === 'ours')
      return users
        ? { mode: 'bearer', tokens: await Promise.all(users.map((u) => tokens.get(u.id) ?? tokens.set(u.id, sign(u.id)).get(u.id)!)) }
        : { mode: 'none' };
    return {
      mode: 'internal',
      key: keys.services.gateway,
      identities: users
        ? users.map((u) => ({ userId: u.id, role: 'CUSTOMER' as const, scopes: [] }))
        : [{ userId: null, role: null, scopes: [] }],
    };
  };
  const accountUsers = sample(0);
  const checkoutUsers = sample(accountUsers.length);
  // First visits: users neither sample holds, as many as the runs can use up (BENCH_FIRST_VISIT_USERS).
  const firstVisitUsers = customers.slice(2 * accountUsers.length, 2 * accountUsers.length + SETTINGS.firstVisitUsers);
  return { authFor, accountUsers, checkoutUsers, firstVisitUsers };
}

export async function workloadsOf(stack: Stack) {
  const { data } = stack;
  const { authFor, accountUsers, checkoutUsers, firstVisitUsers } = await credentialsOf(stack);

  // Partner: the ProductBySku operation of the acme-partner manifest, sent as APQ (hash only)
  // after registering it; Hive Gateway ships no APQ, so it gets the full document.
  const manifest = JSON.parse(await readFile(path.join(ROOT, 'persisted-queries/acme-partner.json'), 'utf8')) as {
    operations: { id: string; name: string; body: string }[];
  };
  const bySku = manifest.operations.find((o) => o.name === 'ProductBySku')!;
  const apq = { persistedQuery: { version: 1, sha256Hash: createHash('sha256').update(bySku.body).digest('hex') } };
  const skus = data.products.map((p) => p.sku);
  const accountPage = JSON.stringify({ query: printDocument(ACCOUNT_PAGE), variables: { n: 20 } });
  // Every category and every SKU is requested, in rotation: the realistic key distribution, not one hot key.
  const http: Record<string, HttpWorkload> = {
    storefront: { auth: null, bodies: () => data.categoryIds.map((c) => JSON.stringify({ query: STOREFRONT, variables: { c } })) },
    account: { auth: accountUsers, bodies: () => [accountPage] },
    // The same page, each request by a user no earlier request of this gateway came from: no private hit possible.
    'account-first-visit': { auth: firstVisitUsers, bodies: () => [accountPage], keys: 'first-visit' },
    partner: {
      auth: null,
      bodies: (g) =>
        skus.map((sku) =>
          JSON.stringify(g === 'hive' ? { query: bySku.body, variables: { sku } } : { extensions: apq, variables: { sku } }),
        ),
    },
  };
  const register = (g: GatewayName) =>
    fetch(stack.urls[g]!, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: bySku.body, extensions: apq, variables: { sku: skus[0] } }),
    });
  return { http, authFor, accountUsers, checkoutUsers, register };
}
export type Workloads = Awaited<ReturnType<typeof workloadsOf>>;

export const gatewaysOf = (stack: Stack) => Object.keys(stack.urls) as GatewayName[];

/** Every workload answers without errors on every gateway before anything is timed. */
export async function sanity(stack: Stack, w: Workloads) {
  for (const g of gatewaysOf(stack)) {
    if (g !== 'hive') await w.register(g);
    for (const [name, workload] of Object.entries(w.http)) {
      const probe = await runJob<LoadResult>(stack.worker, {
        kind: 'http',
        url: stack.urls[g],
        bodies: workload.bodies(g).slice(0, 1),
        auth: await w.authFor(g, workload.auth ? workload.auth.slice(0, 1) : null),
        connections: 1,
        warmupS: 0,
        durationS: 1,
      });
      if (probe.failed) console.error(`${g}/${name}: ${probe.failed} of ${probe.requests} failed`);
    }
  }
}

/** The header a peer gateway needs for an anonymous request (ours needs none). */
export async function internalHeader(w: Workloads, g: GatewayName): Promise<Record<string, string>> {
  const auth = await w.authFor(g, null);
  if (auth.mode !== 'internal') return {};
  const { createServiceTokenSigner, INTERNAL_TOKEN_HEADER } = await import('../platform/auth/service-token.js');
  return { [INTERNAL_TOKEN_HEADER]: await (await createServiceTokenSigner(auth.key)).sign(auth.identities[0]!) };
}
