import { z } from 'zod';
import { csv, json, metricsPort, port, positiveInt, serviceUrl } from './fields.js';
import { limitsShape, subgraphFetchShape } from './gateway-limits.js';
import { baseSchema } from './shared.js';
import { usageShape } from './usage.js';

/** The gateway's config: routing, client auth, WebSockets, caches, persisted queries, limits. */

/** GraphiQL's starting tab unless GRAPHIQL_DEFAULT_QUERY says otherwise: how to sign in, and where the token goes. */
const GRAPHIQL_WELCOME = `# The supergraph's API (schema/api.graphql). The Docs button (top left) explores it.
# Signed-in calls: run logIn, then put the token in Headers below:
#   { "Authorization": "Bearer <token>" }
#
# mutation { logIn(input: { email: "ada@example.com", password: "customer-password-1" }) { token } }

query Products {
  products(first: 5) {
    edges { node { id name price { amountCents currency } } }
  }
}
`;

/** One CORS_ORIGINS entry: `scheme://host[:port]`, the host's leftmost label may be `*` (any one or more labels). */
const ORIGIN = /^(https?):\/\/(\*\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)*)(:\d{1,5})?$/i;

/**
 * Browser origins allowed to call the gateway (CORS), comma-separated exact origins or patterns
 * (`https://*.example.com`); unset: none, same-origin only. A pattern becomes an anchored RegExp,
 * so `https://*.example.com` never matches `https://evil-example.com` or `https://a.example.com.evil.io`.
 */
const corsOrigins = csv.transform((entries, ctx) =>
  entries.map((entry) => {
    const match = ORIGIN.exec(entry);
    if (!match) {
      ctx.addIssue({ code: 'custom', message: `"${entry}" is not an origin (scheme://host[:port], optionally https://*.host)` });
      return z.NEVER;
    }
    if (!match[2]) return entry.toLowerCase();
    const escape = (s: string) => s.replace(/[.]/g, '\\.');
    return new RegExp(`^${match[1]!.toLowerCase()}://[a-z0-9-]+(\\.[a-z0-9-]+)*\\.${escape(match[3]!.toLowerCase())}${match[4] ?? ''}$`);
  }),
);

export const gatewaySchema = baseSchema.extend({
  PORT: port(4000),
  METRICS_PORT: metricsPort(9400),
  SUPERGRAPH_PATH: z.string().default('schema/supergraph.graphql'),
  /**
   * Routing overrides, JSON `{"<subgraph>": "<base url>"}` (`/graphql` is appended): a subgraph's
   * URL from the supergraph is replaced (load balancers, tests); a name the supergraph does not
   * have stops the gateway. (`{}`)
   */
  SUBGRAPH_URLS: json(z.record(z.string(), serviceUrl)).prefault('{}'),
  /**
   * @apollo/gateway 2.14 otherwise exports usage metrics to Apollo and probes cloud metadata
   * endpoints (169.254.169.254) at start-up; off unless explicitly wanted.
   */
  APOLLO_TELEMETRY_DISABLED: z.enum(['true', 'false']).default('true'),
  USERS_JWKS_URL: serviceUrl.default('http://127.0.0.1:4001/.well-known/jwks.json'),
  JWT_ISSUER: z.string().default('urn:supergraph:users'),
  JWT_AUDIENCE: z.string().default('urn:supergraph'),
  /** An external identity provider whose tokens the gateway also accepts. */
  EXTERNAL_JWKS_URL: serviceUrl.optional(),
  EXTERNAL_JWT_ISSUER: z.string().optional(),
  EXTERNAL_JWT_AUDIENCE: z.string().optional(),
  BODY_LIMIT: z.string().default('2mb'),
  WS_MAX_PAYLOAD_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024),
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: z.coerce.number().int().min(1).default(20),
  /**
   * WebSocket connections this gateway keeps open in all, and per client address (as TRUST_PROXY
   * reads it); an upgrade beyond either is answered 503 / 429. Keep the total well under the
   * process's file-descriptor limit (`ulimit -n`), so sockets never starve HTTP. (10,000; 100)
   */
  WS_MAX_CONNECTIONS: positiveInt(10_000),
  WS_MAX_CONNECTIONS_PER_IP: positiveInt(100),
  /** An anonymous connection with no subscription open is closed (4410) after this long. (30 s) */
  WS_ANONYMOUS_IDLE_MS: positiveInt(30_000),
  /**
   * Subscriptions over HTTP (multipart, SSE): open streams per gateway (503 beyond), per client
   * address (per gateway), per signed-in user and per partner key (across gateways, in Redis) (429
   * beyond). Each stream is a socket, as a WebSocket is. (10,000; 100; 20; 100)
   */
  HTTP_SUBSCRIPTIONS_MAX: positiveInt(10_000),
  HTTP_SUBSCRIPTIONS_MAX_PER_IP: positiveInt(100),
  HTTP_SUBSCRIPTIONS_MAX_PER_USER: positiveInt(20),
  HTTP_SUBSCRIPTIONS_MAX_PER_PARTNER: positiveInt(100),
  /** A heartbeat on each HTTP subscription stream this often, so proxies keep quiet streams open. (5 s) */
  SUBSCRIPTION_HEARTBEAT_MS: z.coerce.number().int().min(100).max(120_000).default(5_000),
  /** Undelivered events one subscriber may have before it is cut off (it can resume with `after`). */
  WS_MAX_QUEUED_EVENTS: z.coerce.number().int().min(1).default(1000),
  /** Also keep the read-your-writes token in an HTTP-only cookie (browsers), besides the `x-consistency-token` header. */
  CONSISTENCY_COOKIE: z.enum(['true', 'false']).default('false'),
  /** How long a consistency token is honoured; keep it above every subgraph's DATABASE_REPLICA_MAX_LAG_MS. */
  CONSISTENCY_TOKEN_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(300),
  CORS_ORIGINS: corsOrigins,
  /**
   * Keys of the consistency token's HMAC, comma-separated, each at least 32 characters: the first
   * signs, every one verifies (rotation). Unset: derived from SERVICE_PRIVATE_JWK, which every gateway
   * of a deployment shares. (unset)
   */
  CONSISTENCY_TOKEN_SECRETS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().min(32, 'each secret needs at least 32 characters'))),
  /** GraphiQL on GET /graphql for browsers (offline bundle); unset: on unless NODE_ENV=production. */
  GRAPHIQL: z.enum(['true', 'false']).optional(),
  /** The document GraphiQL opens with. (a sign-in mutation and a product query of this graph) */
  GRAPHIQL_DEFAULT_QUERY: z.string().default(GRAPHIQL_WELCOME),
  /**
   * The entity cache (gateway/cache/): subgraph query fetches their subgraph declares public with a
   * max-age, shared through Redis, dropped by the domain events that change them. Off without REDIS_URL.
   */
  ENTITY_CACHE_ENABLED: z.enum(['true', 'false']).default('true'),
  /**
   * The response cache: whole answers of anonymous and partner queries whose every subgraph fetch
   * was public with a max-age, shared through Redis, dropped by the same events. Off without REDIS_URL.
   */
  RESPONSE_CACHE_ENABLED: z.enum(['true', 'false']).default('true'),
  /** The longest either cache keeps an entry, whatever max-age the subgraphs gave (300 s). */
  CACHE_MAX_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(300),
  /** A cache read or write slower than this counts as a miss (Redis away or overloaded: uncached, never stale). (100 ms) */
  CACHE_TIMEOUT_MS: z.coerce.number().int().min(5).max(5_000).default(100),
  /** Memory each gateway keeps of the Redis cache's entries (checked against the events it heard); 0 = none. */
  CACHE_LOCAL_MAX_MB: z.coerce.number().int().min(0).max(4_096).default(64),
  /** How long an automatic persisted query stays registered (shared by all gateways through Redis). */
  APQ_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .default(24 * 3600),
  /** Trusted-document manifests, one `<client-name>.json` per client (Apollo's persisted-query-manifest format). */
  PERSISTED_QUERIES_DIR: z.string().default('persisted-queries'),
  /**
   * Partner API keys, stored only as sha256 of the key (keys are 256-bit random, so a fast hash is
   * enough): `[{ "id", "client", "sha256", "revoked"? }]`; `npm run partner:key -- <client>` mints one.
   */
  PARTNER_API_KEYS: json(
    z.array(
      z.object({
        id: z.string().min(1),
        client: z.string().regex(/^[\w.-]+$/),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        revoked: z.boolean().default(false),
      }),
    ),
  ).prefault('[]'),
  /**
   * The client registry (gateway/persisted-queries/client-registry.ts): one folder per partner with
   * its hashed keys and versioned manifests, re-read every CLIENT_REGISTRY_POLL_MS; unset: none.
   */
  CLIENT_REGISTRY_DIR: z.string().optional(),
  CLIENT_REGISTRY_POLL_MS: z.coerce.number().int().min(100).max(10_000).default(2_000),
  /**
   * Safelist mode per first-party client name (`apollographql-client-name`): off | audit | enforce;
   * `"*"` applies to every other client, named or not. Partners are always enforced.
   */
  SAFELIST_MODES: json(z.record(z.string(), z.enum(['off', 'audit', 'enforce']))).prefault('{}'),
  ...limitsShape,
  ...subgraphFetchShape,
  ...usageShape,
});

export type GatewayConfig = z.infer<typeof gatewaySchema>;
