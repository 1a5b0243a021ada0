import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { print as printDocument } from 'graphql';
import { ROOT } from '../platform/paths.js';
import { ACCOUNT_PAGE } from '../test/support/operations.js';
import type { BenchData } from './load-data.js';
import type { Auth, LoadResult } from './load-worker.js';
import { runJob } from './processes.js';
import { isHive, isOurs } from './gateways.js';
import type { GatewayName } from './gateways.js';
import { SETTINGS } from './settings.js';
import type { Stack } from './stack.js';
import { createUserTokenSigner } from './user-tokens.js';

export const STOREFRONT = `query Storefront($c: ID!, $after: String) { products(filter: {categoryId: $c}, first: 20, after: $after) { edges { node {
  name price { amountCents currency } stock category { name } shippingEstimate { amountCents } } } } }`;
/** The same page with each product's id, so the mixed workload can tell which stock it saw. */
export const STOREFRONT_IDS = STOREFRONT.replace('node {\n', 'node { id\n');

/** Category pages 1..STOREFRONT_PAGES are requested, each by the cursor the page before it ends with. */
const STOREFRONT_PAGES = 3;

/** Zipf(s) weights by rank: the k-th most popular key is asked 1/k^s as often as the first. */
export const zipfWeights = (n: number, s = 1) => Array.from({ length: n }, (_, k) => 1 / (k + 1) ** s);

/**
 * The cursor each category page starts after (null for page 1), asked of the catalog subgraph
 * itself (with a gateway-signed anonymous token), so that no gateway sees a key before it is timed.
 */
async function categoryPages(stack: Stack, header: Record<string, string>) {
  const query =
    'query($c: ID!, $after: String) { products(filter: {categoryId: $c}, first: 20, after: $after) { pageInfo { endCursor } } }';
  const pages: { c: string; after: string | null; page: number }[] = [];
  for (const c of stack.data.categoryIds) {
    let after: string | null = null;
    for (let page = 1; page <= STOREFRONT_PAGES; page++) {
      pages.push({ c, after, page });
      const res = await fetch(`${stack.subgraphUrls.catalog}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...header },
        body: JSON.stringify({ query, variables: { c, after } }),
      });
      const body = (await res.json()) as { data?: { products: { pageInfo: { endCursor: string | null } } } };
      after = body.data?.products.pageInfo.endCursor ?? null;
      if (!after) break;
    }
  }
  return pages;
}

/**
 * Storefront keys: categories ranked Zipf(1.0) (in the data's order), and within a category page p
 * asked 1/p as often as page 1 (shoppers page on less and less).
 */
async function storefrontKeys(stack: Stack, header: Record<string, string>) {
  const pages = await categoryPages(stack, header);
  const rank = new Map(stack.data.categoryIds.map((c, i) => [c, i + 1]));
  return {
    bodies: pages.map(({ c, after }) => JSON.stringify({ query: STOREFRONT, variables: { c, after } })),
    weights: pages.map(({ c, page }) => 1 / (rank.get(c)! * page)),
  };
}

export interface HttpWorkload {
  auth: BenchData['users'] | null;
  bodies: (g: GatewayName) => string[];
  /** Draw bodies with these weights (one per body) instead of rotating through them. */
  weights?: number[];
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
    if (isOurs(gateway))
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
  const storefront = await storefrontKeys(stack, await anonymousServiceHeader(await authFor('stock', null)));
  const accountPage = JSON.stringify({ query: printDocument(ACCOUNT_PAGE), variables: { n: 20 } });
  // Keys drawn as shoppers and partners ask for them: a few hot, a long tail over the whole catalogue.
  const http: Record<string, HttpWorkload> = {
    storefront: { auth: null, bodies: () => storefront.bodies, weights: storefront.weights },
    account: { auth: accountUsers, bodies: () => [accountPage] },
    // The same page, each request by a user no earlier request of this gateway came from: no private hit possible.
    'account-first-visit': { auth: firstVisitUsers, bodies: () => [accountPage], keys: 'first-visit' },
    // Product ids (here their SKUs) Zipf(1.0) over all products.
    partner: {
      auth: null,
      bodies: (g) =>
        skus.map((sku) => JSON.stringify(isHive(g) ? { query: bySku.body, variables: { sku } } : { extensions: apq, variables: { sku } })),
      weights: zipfWeights(skus.length),
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
    if (!isHive(g)) await w.register(g);
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
  return anonymousServiceHeader(await w.authFor(g, null));
}

async function anonymousServiceHeader(auth: Auth): Promise<Record<string, string>> {
  if (auth.mode !== 'internal') return {};
  const { createServiceTokenSigner, INTERNAL_TOKEN_HEADER } = await import('../platform/auth/service-token.js');
  return { [INTERNAL_TOKEN_HEADER]: await (await createServiceTokenSigner(auth.key)).sign(auth.identities[0]!) };
}
