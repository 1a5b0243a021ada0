import type { JWK } from 'jose';
import { gatewaySchema, subgraphSchemas } from './config.js';
import { generateServiceKey } from './auth/service-token.js';
import { SUBGRAPHS } from './migrate.js';
import type { Subgraph } from './migrate.js';

/**
 * Everything a single-machine run (the embedded `npm start`, the test suite) needs to hand each
 * service as environment variables: keys, database URLs, ports. Production sets the same
 * variables by hand (docker-compose.yml, Kubernetes secrets).
 */
export interface LocalKeys {
  services: Record<'gateway' | Subgraph, JWK>;
  trustedJwks: { keys: JWK[] };
  userTokenKey: JWK;
}

export async function generateLocalKeys(): Promise<LocalKeys> {
  const names = ['gateway', ...SUBGRAPHS] as const;
  const pairs = await Promise.all(names.map((n) => generateServiceKey(n)));
  const userToken = await generateServiceKey('users-jwt');
  return {
    services: Object.fromEntries(names.map((n, i) => [n, pairs[i]!.privateJwk])) as LocalKeys['services'],
    trustedJwks: { keys: pairs.map((p) => p.publicJwk) },
    userTokenKey: userToken.privateJwk,
  };
}

export interface LocalTopology {
  keys: LocalKeys;
  databaseUrls: Record<Subgraph, string>;
  replicaUrls?: Partial<Record<Subgraph, string[]>>;
  ports: Record<'gateway' | Subgraph, number>;
  /** Where each service serves /metrics (unset: any free port, reported by `listen`). */
  metricsPorts?: Partial<Record<'gateway' | Subgraph, number>>;
  host?: string;
  logLevel?: string;
  nodeEnv?: 'development' | 'test' | 'production';
  /** Unset: the embedded in-process event bus. */
  redisUrl?: string;
  eventNamespace?: string;
  /**
   * The caller's own environment (`npm start`: process.env plus .env): every variable a service's
   * config schema knows (PARTNER_API_KEYS, SAFELIST_MODES, LIMIT_*, ...) reaches that service as
   * it would a production process. Variables the topology owns (ports, URLs of peers, keys,
   * database URLs) stay the topology's.
   */
  environment?: NodeJS.ProcessEnv;
  /** Extra variables per service (tests tune timeouts and limits this way). */
  extra?: Partial<Record<'gateway' | Subgraph, Record<string, string>>>;
}

export function localEnv(t: LocalTopology): Record<'gateway' | Subgraph, Record<string, string>> {
  const host = t.host ?? '127.0.0.1';
  const url = (name: 'gateway' | Subgraph) => `http://${host}:${t.ports[name]}`;
  const common = (name: 'gateway' | Subgraph) => ({
    NODE_ENV: t.nodeEnv ?? 'development',
    LOG_LEVEL: t.logLevel ?? 'info',
    HOST: host,
    PORT: String(t.ports[name]),
    METRICS_PORT: String(t.metricsPorts?.[name] ?? 0),
    SERVICE_PRIVATE_JWK: JSON.stringify(t.keys.services[name]),
    // Subgraphs check who calls them; the gateway is called by clients only and reads no trust list.
    ...(name === 'gateway' ? {} : { TRUSTED_SERVICE_JWKS: JSON.stringify(t.keys.trustedJwks) }),
    ...(t.redisUrl ? { REDIS_URL: t.redisUrl } : {}),
    EVENT_NAMESPACE: t.eventNamespace ?? '',
  });
  const db = (name: Subgraph) => ({
    DATABASE_URL: t.databaseUrls[name],
    DATABASE_REPLICA_URLS: (t.replicaUrls?.[name] ?? []).join(','),
  });
  const routes = JSON.stringify(Object.fromEntries(SUBGRAPHS.map((name) => [name, url(name)])));
  const env = {
    users: { ...common('users'), ...db('users'), JWT_PRIVATE_JWK: JSON.stringify(t.keys.userTokenKey) },
    catalog: { ...common('catalog'), ...db('catalog'), ORDERS_URL: url('orders') },
    orders: { ...common('orders'), ...db('orders'), CATALOG_URL: url('catalog') },
    billing: { ...common('billing'), ...db('billing'), ORDERS_URL: url('orders') },
    gateway: {
      ...common('gateway'),
      SUBGRAPH_URLS: routes,
      USERS_JWKS_URL: `${url('users')}/.well-known/jwks.json`,
    },
  };
  for (const name of Object.keys(env) as (keyof typeof env)[]) {
    if (t.environment) Object.assign(env[name], fromEnvironment(name, t.environment, env[name]));
    // Extra variables win over everything above (e.g. peers reached through a load balancer).
    Object.assign(env[name], t.extra?.[name]);
  }
  // Extra routing overrides replace the topology's per subgraph, not as a whole (a test reroutes one).
  const reroutes = t.extra?.gateway?.SUBGRAPH_URLS;
  if (reroutes) env.gateway.SUBGRAPH_URLS = JSON.stringify({ ...JSON.parse(routes), ...JSON.parse(reroutes) });
  return env;
}

const SCHEMA_KEYS = {
  gateway: Object.keys(gatewaySchema.shape),
  ...Object.fromEntries(SUBGRAPHS.map((name) => [name, Object.keys(subgraphSchemas[name].shape)])),
} as Record<'gateway' | Subgraph, string[]>;

/** The variables of `environment` that service `name` reads and the topology has not set itself. */
function fromEnvironment(
  name: 'gateway' | Subgraph,
  environment: NodeJS.ProcessEnv,
  owned: Record<string, string>,
): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const key of SCHEMA_KEYS[name]) {
    const value = environment[key];
    if (value !== undefined && !(key in owned)) picked[key] = value;
  }
  return picked;
}
