import { randomUUID } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { print } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { startRedisServer } from '../../scripts/redis-server.js';
import type { RedisServerHandle } from '../../scripts/redis-server.js';
import { inject } from 'vitest';
import { generateLocalKeys } from '../../platform/local-env.js';
import type { LocalKeys, LocalTopology } from '../../platform/local-env.js';
import { SUBGRAPHS } from '../../platform/migrate.js';
import { createTestDatabases } from './databases.js';
import type { Subgraph } from '../../platform/migrate.js';
import { freePort } from '../../scripts/free-port.js';
import { onServer, waitForReplay } from './replication.js';
import { ensureStandbyRunning } from '../../scripts/embedded-replica.js';
import { startExtraGateway, startLocalSupergraph } from '../../scripts/local-supergraph.js';
import type { LocalSupergraph } from '../../scripts/local-supergraph.js';
import { CREATE_CATEGORY, CREATE_PRODUCT, LOG_IN, SIGN_UP } from './operations.js';

export interface GqlError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

/** A response whose data is typed by its operation (a typed document's TData). */
export interface GqlResponse<T> {
  status: number;
  headers: Headers;
  data?: T;
  errors?: GqlError[];
}

/**
 * The response to a plain-string operation, untyped on purpose: such tests send documents codegen
 * does not see (malformed, invalid, or built at run time). Typed documents never need it.
 */
export type UntypedResponse = GqlResponse<any>;

export interface GqlOptions {
  token?: string;
  headers?: Record<string, string>;
}

/**
 * POST a GraphQL operation to the gateway. A typed document (test/support/operations.ts, written
 * with the codegen client preset's `graphql()`) gives typed `data` and checked variables, so a
 * typo in a test query fails `npm run typecheck`; a plain string stays untyped (`any`), for tests
 * that send malformed or deliberately invalid documents.
 */
export interface Gql {
  <TData, TVariables extends Record<string, unknown>>(
    document: TypedDocumentNode<TData, TVariables>,
    // Variables are required exactly when the operation declares a required one.
    ...args: Record<string, never> extends TVariables
      ? [variables?: TVariables, opts?: GqlOptions]
      : [variables: TVariables, opts?: GqlOptions]
  ): Promise<GqlResponse<TData>>;
  (query: string, variables?: Record<string, unknown>, opts?: GqlOptions): Promise<UntypedResponse>;
}

export interface TestUser {
  id: string;
  email: string;
  password: string;
  token: string;
}

export interface Stack {
  /** The gateway's /graphql URL. */
  url: string;
  supergraph: LocalSupergraph;
  keys: LocalKeys;
  databaseUrls: Record<Subgraph, string>;
  /** With `replica: true`: each subgraph's database on the standby. */
  replicaUrls: Record<Subgraph, string> | undefined;
  /** What the stack's services were started with (to start more instances of them). */
  topology: LocalTopology;
  redisUrl: string | undefined;
  /** Only with `bus: 'own-redis'`: this stack's Redis server, to restart. */
  ownRedis: RedisServerHandle | undefined;
  eventNamespace: string;
  /** Direct SQL on each subgraph's database, for fixtures and assertions. */
  sql: Record<Subgraph, postgres.Sql>;
  /** POST a GraphQL operation to the gateway. */
  gql: Gql;
  /** A new customer, signed up through the API. */
  customer(name?: string): Promise<TestUser>;
  /** A new admin: signed up through the API, promoted in the database, signed in again for an ADMIN token. */
  admin(): Promise<TestUser>;
  /** A category made through the admin API. */
  category(name?: string): Promise<{ id: string; slug: string }>;
  /** A product made through the admin API (a fresh category unless one is given). */
  product(
    input?: Partial<{
      priceCents: number;
      stock: number;
      weightGrams: number;
      categoryId: string;
      currency: string;
      name: string;
      description: string;
    }>,
  ): Promise<{ id: string; sku: string }>;
  /** A second gateway instance over the same subgraphs; closed with the stack. */
  extraGateway(): Promise<{ url: string; metricsUrl: string; close(): Promise<void> }>;
  close(): Promise<void>;
}

/** Gateway request rate limits for test stacks, far above what any test sends (every test client is 127.0.0.1). */
export const TEST_RATE_LIMITS = { RATE_LIMIT_ANONYMOUS: '1000000', RATE_LIMIT_USER: '1000000', RATE_LIMIT_PARTNER: '1000000' };

let counter = 0;
const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}-${randomUUID().slice(0, 6)}`;

/** Starts a full supergraph on fresh databases of the run's shared Postgres server. */
export interface StackOptions {
  logLevel?: string;
  /**
   * 'memory' runs the embedded in-process event bus instead of the run's Redis server; 'own-redis'
   * starts a Redis server (append-only file) for this stack alone, for tests that restart it.
   */
  bus?: 'redis' | 'memory' | 'own-redis';
  extra?: LocalTopology['extra'];
  /** Read replicas: each subgraph also reads from the standby's copy of its database (DATABASE_REPLICA_URLS). */
  replica?: boolean;
  /** A server pair of the file's own instead of the run's (a file that pauses or stops its standby). */
  postgres?: { adminUrl: string; standbyUrl: string };
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const { adminUrl, standbyUrl } = opts.postgres ?? inject('postgres');
  if (opts.replica && !opts.postgres) await ensureStandbyRunning(inject('postgres').standby);
  const ownRedis =
    opts.bus === 'own-redis'
      ? await startRedisServer(await freePort(), { dataDir: await mkdtemp(path.join(os.tmpdir(), 'supergraph-redis-')) })
      : undefined;
  const redisUrl = opts.bus === 'memory' ? undefined : (ownRedis?.url ?? inject('redis').url);
  const { prefix, databaseUrls } = await createTestDatabases(adminUrl);
  // The standby has the new databases once it has replayed their creation (milliseconds).
  if (opts.replica) await waitForReplay(adminUrl, standbyUrl);
  const replicaUrls = opts.replica
    ? (Object.fromEntries(SUBGRAPHS.map((name) => [name, onServer(databaseUrls[name], standbyUrl)])) as Record<Subgraph, string>)
    : undefined;
  const keys = await generateLocalKeys();
  const ports = { gateway: 0, users: 0, catalog: 0, orders: 0, billing: 0 };
  const topology: LocalTopology = {
    keys,
    databaseUrls,
    ...(replicaUrls ? { replicaUrls: Object.fromEntries(SUBGRAPHS.map((name) => [name, [replicaUrls[name]]])) } : {}),
    ports,
    logLevel: opts.logLevel ?? 'silent',
    nodeEnv: 'test',
    ...(redisUrl ? { redisUrl } : {}),
    eventNamespace: `${prefix}:`,
    // Request rate limits out of the way of load and fault tests; test/rate-limits.test.ts sets its own.
    // Field usage without Redis goes to files: the test's own folder, not the repository's .data/.
    extra: {
      ...opts.extra,
      gateway: { ...TEST_RATE_LIMITS, USAGE_DIR: path.join(os.tmpdir(), `usage-${prefix}`), ...opts.extra?.gateway },
    },
  };
  const supergraph = await startLocalSupergraph(topology);
  // From now on the topology names the real ports (more instances, restarts, load balancers).
  topology.ports = supergraph.ports;
  const extraGateways: { close(): Promise<void> }[] = [];
  const sql = openSql(databaseUrls);
  const api = createApiClient(supergraph.gatewayUrl, sql);
  const stack: Stack = {
    url: supergraph.gatewayUrl,
    supergraph,
    keys,
    databaseUrls,
    replicaUrls,
    topology,
    redisUrl,
    ownRedis,
    eventNamespace: `${prefix}:`,
    sql,
    ...api,
    async extraGateway() {
      const gateway = await startExtraGateway(topology, await freePort());
      extraGateways.push(gateway);
      return gateway;
    },
    async close() {
      await namedStep('direct SQL connections', () => Promise.all(Object.values(sql).map((s) => s.end())));
      await namedStep('extra gateways', () => Promise.all(extraGateways.map((g) => g.close())));
      await namedStep('gateway and subgraphs', () => supergraph.close());
      await namedStep("the stack's own Redis", async () => ownRedis?.stop());
    },
  };
  return stack;
}

/**
 * One step of a stack's close, named on stderr when it takes over 10 s: a hook that times out then
 * says which part of the shutdown it waited for (every service's stop is bounded: platform/shutdown.ts).
 */
async function namedStep(name: string, step: () => Promise<unknown>): Promise<void> {
  const from = Date.now();
  const slow = setInterval(() => console.error(`stack close: still waiting for ${name} after ${Date.now() - from} ms`), 10_000);
  try {
    await step();
  } finally {
    clearInterval(slow);
  }
}

/** Direct SQL on each subgraph's database, for fixtures and assertions. */
export function openSql(databaseUrls: Record<Subgraph, string>): Record<Subgraph, postgres.Sql> {
  return Object.fromEntries(SUBGRAPHS.map((name) => [name, postgres(databaseUrls[name], { max: 2, onnotice: () => {} })])) as Record<
    Subgraph,
    postgres.Sql
  >;
}

/** What a test does through the public API: GraphQL requests and fixtures made as a client would. */
export type ApiClient = Pick<Stack, 'gql' | 'customer' | 'admin' | 'category' | 'product'>;

/** The API helpers over a gateway URL (in-process stacks and process clusters alike). */
export function createApiClient(gatewayUrl: string, sql: Record<Subgraph, postgres.Sql>): ApiClient {
  const gql = (async (document: string | TypedDocumentNode, variables?: Record<string, unknown>, o: GqlOptions = {}) => {
    const query = typeof document === 'string' ? document : print(document);
    const res = await fetch(gatewayUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
        ...o.headers,
      },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: unknown; errors?: GqlError[] };
    return { status: res.status, headers: res.headers, data: body.data as never, errors: body.errors };
  }) as Gql;

  const signUp = async (name: string): Promise<TestUser> => {
    const email = `${unique('user')}@example.test`;
    const password = 'correct-horse-battery';
    const res = await gql(SIGN_UP, { input: { email, name, password } });
    if (!res.data?.signUp) throw new Error(`signUp failed: ${JSON.stringify(res.errors)}`);
    return { id: res.data.signUp.user.id, email, password, token: res.data.signUp.token };
  };

  const api: ApiClient = {
    gql,
    customer: (name = 'Test Customer') => signUp(name),
    async admin() {
      const user = await signUp('Test Admin');
      await sql.users`update users set role = 'ADMIN' where id = ${user.id}`;
      const res = await gql(LOG_IN, { input: { email: user.email, password: user.password } });
      if (!res.data?.logIn) throw new Error(`admin logIn failed: ${JSON.stringify(res.errors)}`);
      return { ...user, token: res.data.logIn.token };
    },
    async category(name = 'Test Category') {
      const admin = await adminOnce();
      const slug = unique('cat');
      const res = await gql(CREATE_CATEGORY, { input: { slug, name } }, { token: admin.token });
      if (!res.data?.createCategory) throw new Error(`createCategory failed: ${JSON.stringify(res.errors)}`);
      return res.data.createCategory;
    },
    async product(input = {}) {
      const admin = await adminOnce();
      const categoryId = input.categoryId ?? (await api.category()).id;
      const sku = unique('SKU');
      const res = await gql(
        CREATE_PRODUCT,
        {
          input: {
            sku,
            name: input.name ?? `Product ${sku}`,
            description: input.description ?? 'A product made by a test.',
            priceCents: input.priceCents ?? 1999,
            currency: input.currency ?? 'USD',
            categoryId,
            stock: input.stock ?? 100,
            weightGrams: input.weightGrams ?? 750,
          },
        },
        { token: admin.token },
      );
      if (!res.data?.createProduct) throw new Error(`createProduct failed: ${JSON.stringify(res.errors)}`);
      return res.data.createProduct;
    },
  };
  let fixtureAdmin: Promise<TestUser> | undefined;
  const adminOnce = () => (fixtureAdmin ??= api.admin());
  return api;
}

// The poll lives apart so the fast tier can use it without importing the stack's Postgres and Redis code.
export { eventually } from './eventually.js';

/** The codes of a response's errors, in order. */
export const codes = (res: GqlResponse<unknown>) => (res.errors ?? []).map((e) => e.extensions?.code);
