import { z } from 'zod';
import type { Subgraph } from './subgraphs.js';

/**
 * Every service parses its environment once, at start-up, with one of the schemas below.
 * A bad value stops the process with a message naming each offending variable.
 */

const csv = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

const json = <T extends z.ZodType>(inner: T) =>
  z
    .string()
    .transform((raw, ctx) => {
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(inner);

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
/**
 * Where GET /metrics is served: a port of its own, so the public port never answers it (0 = any
 * free port, as tests use). Prometheus scrapes it on the instance's own address.
 */
const metricsPort = port;

const jwk = z.looseObject({ kty: z.string(), kid: z.string().min(1) });
const jwks = z.object({ keys: z.array(jwk).min(1) });

export const eventSchema = z.object({
  /** Redis for events, subscriptions fan-out (and later APQ and rate limits); unset = embedded in-process bus. */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  EVENT_NAMESPACE: z
    .string()
    .regex(/^[\w:.-]*$/)
    .default(''),
  /** How long events stay replayable (subscription resume, late consumers). */
  EVENT_RETENTION_HOURS: z.coerce
    .number()
    .min(0.001)
    .max(24 * 30)
    .default(24),
  /** A delivered event unacknowledged this long is reclaimed from its (crashed) consumer. */
  EVENT_CLAIM_IDLE_MS: z.coerce.number().int().min(100).default(30_000),
});

/** How consumers retry a failing event (services that consume; the gateway only reads streams). */
export const consumerRetrySchema = z.object({
  /** A consumer tries a failing event this many times before parking it as a dead letter. */
  EVENT_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(1_000).default(8),
  /** First retry delay of a failing event; doubles per try (with jitter) up to EVENT_RETRY_MAX_MS. */
  EVENT_RETRY_BASE_MS: z.coerce.number().int().min(1).default(500),
  EVENT_RETRY_MAX_MS: z.coerce.number().int().min(1).default(60_000),
});

/** Bounds on how long a client may take to send a request (run-service.ts); slow senders hold sockets. */
export const httpServerSchema = z.object({
  /** Time to receive a request's headers before the connection is cut (Node: 60 s). (10 s) */
  HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** Time to receive a whole request, body included, before it is answered 408 and cut (Node: 300 s). (30 s) */
  HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
});
export type HttpServerConfig = z.infer<typeof httpServerSchema>;

export const baseSchema = eventSchema
  .extend(consumerRetrySchema.shape)
  .extend(httpServerSchema.shape)
  .extend({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    HOST: z.string().default('0.0.0.0'),
    /** Private ES256 JWK (with kid "<service>.<version>") this service signs its outgoing calls with. */
    SERVICE_PRIVATE_JWK: json(jwk),
    /** Bound for in-flight work on SIGTERM. */
    SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
    /** On SIGTERM, keep serving this long (closing each connection after its response) before refusing new ones. */
    SHUTDOWN_DRAIN_MS: z.coerce.number().int().min(0).default(2_000),
    /** OTLP/HTTP collector base URL (traces go to `<url>/v1/traces`); unset = no tracing at all. */
    OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
    /** Fraction of new traces kept (a caller's sampled `traceparent` is always followed). */
    OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
    /** Logs go to this file instead of stdout (appended). */
    LOG_DESTINATION: z.string().min(1).optional(),
  });

const databaseSchema = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }),
  /** Comma-separated read replica URLs; empty means every read goes to the primary. */
  DATABASE_REPLICA_URLS: csv.pipe(z.array(z.url({ protocol: /^postgres(ql)?$/ }))),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  /** A replica further behind the primary than this leaves the read rotation until it catches up. */
  DATABASE_REPLICA_MAX_LAG_MS: z.coerce.number().int().min(0).default(10_000),
  /** How often each replica's replay position and lag are polled (requests compare against the cached value). */
  DATABASE_REPLICA_POLL_MS: z.coerce.number().int().min(10).max(10_000).default(100),
  /** The benchmark's "DataLoader off" runs: every load its own statement, no per-request cache. (false) */
  DATALOADER_DISABLED: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
});

const serviceUrl = z.url({ protocol: /^https?$/ });

/** What every subgraph reads besides the base: its database, and which services may call it. */
const subgraphBaseSchema = baseSchema.extend(databaseSchema.shape).extend({
  /** Public JWKS of every service allowed to call this one; list two keys per service while rotating. */
  TRUSTED_SERVICE_JWKS: json(jwks),
});

const internalCallShape = {
  /** Deadline of one service-to-service call (connection and answer); past it the caller gives up. (5,000 ms) */
  INTERNAL_CALL_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
};

export const subgraphSchemas = {
  users: subgraphBaseSchema.extend({
    PORT: port(4001),
    METRICS_PORT: metricsPort(9401),
    /** Private ES256 JWK the users service signs customer tokens with. */
    JWT_PRIVATE_JWK: json(jwk),
    /** Extra public keys to keep publishing while rotating (JSON JWKS). */
    JWT_PREVIOUS_PUBLIC_JWKS: json(z.object({ keys: z.array(jwk) })).optional(),
    JWT_ISSUER: z.string().default('urn:supergraph:users'),
    JWT_AUDIENCE: z.string().default('urn:supergraph'),
    JWT_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(3600),
  }),
  catalog: subgraphBaseSchema.extend({
    PORT: port(4002),
    METRICS_PORT: metricsPort(9402),
    /** The authority on orders: asked whether an order holds a reservation before it is released. */
    ORDERS_URL: serviceUrl.default('http://127.0.0.1:4003'),
    /** A reservation no order has confirmed this long after its creation is checked with orders and released. (60) */
    RESERVATION_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
    ...internalCallShape,
  }),
  orders: subgraphBaseSchema.extend({
    PORT: port(4003),
    METRICS_PORT: metricsPort(9403),
    /** Stock is reserved with a synchronous call; everything else between services is events. */
    CATALOG_URL: serviceUrl.default('http://127.0.0.1:4002'),
    ...internalCallShape,
  }),
  billing: subgraphBaseSchema
    .extend({
      PORT: port(4004),
      METRICS_PORT: metricsPort(9404),
      /** Billing asks orders (the authority on order state) before charging and before refunding. */
      ORDERS_URL: serviceUrl.default('http://127.0.0.1:4003'),
      /** A Stripe-shaped HTTP payment provider; unset: the embedded test mode. */
      PAYMENT_PROVIDER_URL: serviceUrl.optional(),
      ...internalCallShape,
      /** How long a provider call may take; past it the payment stays PENDING for a retry or the reconciler. */
      PAYMENT_PROVIDER_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
      /** A payment left PENDING this long (a crash between charge and commit) is settled by the reconciler. */
      PAYMENT_RECONCILE_AFTER_MS: z.coerce.number().int().min(100).default(30_000),
      /** How often the reconciler looks for such payments (also once at start). */
      PAYMENT_RECONCILE_INTERVAL_MS: z.coerce.number().int().min(100).default(10_000),
      /**
       * Fault injection for crash tests: SIGKILL this process right after the provider charged this
       * card token (a first charge, not a replay), before the outcome commits. NODE_ENV=test only;
       * empty means off.
       */
      FAULT_KILL_AFTER_CHARGE_TOKEN: z
        .string()
        .optional()
        .transform((v) => (v === '' ? undefined : v)),
    })
    .refine((c) => !c.FAULT_KILL_AFTER_CHARGE_TOKEN || c.NODE_ENV === 'test', {
      path: ['FAULT_KILL_AFTER_CHARGE_TOKEN'],
      error: 'is a fault-injection hook, only allowed with NODE_ENV=test',
    }),
} satisfies Record<Subgraph, z.ZodType>;

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

const positiveInt = (fallback: number) => z.coerce.number().int().min(1).default(fallback);

/** Gateway limits (gateway/limits/): operation shape, rate limits, partner cost budgets, logIn attempts. */
const limitsShape = {
  /**
   * Express `trust proxy`: which hops may tell the client's address in X-Forwarded-For (rate limits
   * per IP, logIn attempts per IP). `true`, `false`, a hop count, or a comma-separated list of
   * addresses, CIDRs and the names `loopback`, `linklocal`, `uniquelocal` (private networks, where
   * nginx or a cloud load balancer sits). Anything more trusting than the real path lets a client
   * forge its IP. (`loopback`)
   */
  TRUST_PROXY: z
    .string()
    .default('loopback')
    .transform((v): boolean | number | string[] =>
      v === 'true'
        ? true
        : v === 'false'
          ? false
          : /^\d+$/.test(v)
            ? Number(v)
            : v
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean),
    )
    .pipe(
      z.union([
        z.boolean(),
        z.number(),
        z.array(z.union([z.enum(['loopback', 'linklocal', 'uniquelocal']), z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()])).min(1),
      ]),
    ),
  /** Field nesting, leaves included; the AccountPage query is 8 deep. (10) */
  LIMIT_MAX_DEPTH: positiveInt(10),
  /** Aliased fields per operation (`__typename` aliases are free). (15) */
  LIMIT_MAX_ALIASES: positiveInt(15),
  /** Directive uses per operation. (20) */
  LIMIT_MAX_DIRECTIVES: positiveInt(20),
  /** Lexical tokens per document, checked while parsing; AccountPage is 68. (1,000) */
  LIMIT_MAX_TOKENS: positiveInt(1000),
  /**
   * graphql-armor's structural cost of the document text (objects 2, scalars 1, ×1.5 per level,
   * × literal `first` only): AccountPage is 272 with `first: $n`, 27,150 with `first: 100` written in. (50,000)
   */
  LIMIT_MAX_ARMOR_COST: positiveInt(50_000),
  /** Static cost (gateway/limits/operation-cost.ts, variables and @listSize applied) above which an operation is refused outright. (10,000) */
  LIMIT_MAX_OPERATION_COST: positiveInt(10_000),
  /** Assumed length of a list field without a slicing argument or @listSize(assumedSize). (10) */
  COST_DEFAULT_LIST_SIZE: positiveInt(10),
  /** Static cost each partner API key may spend per minute, shared by all gateway instances. (50,000) */
  PARTNER_COST_BUDGET_PER_MINUTE: positiveInt(50_000),
  /** Fixed window for the request rate limits below. (60 s) */
  RATE_LIMIT_WINDOW_SECONDS: positiveInt(60),
  /** Requests per window per client IP, for calls with neither a partner key nor a user token. (300) */
  RATE_LIMIT_ANONYMOUS: positiveInt(300),
  /** Requests per window per signed-in user, whatever IP they come from. (600) */
  RATE_LIMIT_USER: positiveInt(600),
  /** Requests per window per partner API key. (3,000) */
  RATE_LIMIT_PARTNER: positiveInt(3000),
  /**
   * Request counts taken from Redis this many at a time and handed out in memory (one Redis call
   * per this many requests of a key); 1 counts every request in Redis. The gateways together never
   * admit more than a limit; a key may be refused up to (gateways × (lease − 1)) requests early. (1)
   */
  RATE_LIMIT_LEASE: positiveInt(1),
  /** Failed logIn attempts per account (normalized email) per LOGIN_WINDOW_SECONDS; a success resets it. (5) */
  LOGIN_MAX_FAILURES_PER_ACCOUNT: positiveInt(5),
  /** Failed logIn attempts per client IP per LOGIN_WINDOW_SECONDS, whatever the accounts. (50) */
  LOGIN_MAX_FAILURES_PER_IP: positiveInt(50),
  /** (900 s = 15 min) */
  LOGIN_WINDOW_SECONDS: positiveInt(900),
  /** The root mutation field whose failed attempts are counted, by schema coordinate (`Mutation.logIn`). */
  LOGIN_FIELD: z
    .string()
    .regex(/^[_A-Za-z]\w*\.[_A-Za-z]\w*$/, 'must be a field coordinate, Type.field')
    .default('Mutation.logIn'),
  /** Where in that field's arguments the account is named, as a dotted path (`input.email`). */
  LOGIN_ACCOUNT_ARGUMENT: z
    .string()
    .regex(/^[_A-Za-z]\w*(\.[_A-Za-z]\w*)*$/, 'must be a dotted argument path, e.g. input.email')
    .default('input.email'),
};

/**
 * Gateway to subgraph fetches (gateway/subgraph-source.ts, gateway/circuit-breaker.ts): timeouts,
 * retries of queries, and the circuit breaker each subgraph gets. Subgraph names come from the
 * supergraph; per-subgraph overrides naming an unknown subgraph stop the gateway at start-up.
 */
const subgraphFetchShape = {
  /** Deadline of one query fetch to a subgraph, connect included. (3,000 ms) */
  SUBGRAPH_TIMEOUT_MS: z.coerce.number().int().min(100).default(3_000),
  /** Per-subgraph query deadlines, JSON `{"<subgraph>": ms}`, over SUBGRAPH_TIMEOUT_MS. (`{}`) */
  SUBGRAPH_TIMEOUTS: json(z.record(z.string(), z.number().int().min(100))).prefault('{}'),
  /** Deadline of a mutation fetch (placeOrder waits on a call to catalog); never retried. (10,000 ms) */
  SUBGRAPH_MUTATION_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** Extra attempts of a query fetch refused, reset or answered 502/503/504, with jittered backoff; 0 turns retries off. (1) */
  SUBGRAPH_RETRIES: z.coerce.number().int().min(0).max(3).default(1),
  /** Consecutive failed fetches (network, timeout, 5xx) that open a subgraph's breaker. (5) */
  SUBGRAPH_BREAKER_CONSECUTIVE_FAILURES: positiveInt(5),
  /** Or: this share of fetches failed over SUBGRAPH_BREAKER_WINDOW_MS (at 2 fetches/s or more). (0.5) */
  SUBGRAPH_BREAKER_FAILURE_RATE: z.coerce.number().gt(0).lt(1).default(0.5),
  /** (10,000 ms) */
  SUBGRAPH_BREAKER_WINDOW_MS: z.coerce.number().int().min(1000).default(10_000),
  /** An open breaker probes the subgraph's /health/ready this often; one success closes it. (3,000 ms) */
  SUBGRAPH_BREAKER_HALF_OPEN_MS: z.coerce.number().int().min(100).default(3_000),
};

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
   * address and per signed-in user (429 beyond). Each stream is a socket, as a WebSocket is. (10,000; 100; 20)
   */
  HTTP_SUBSCRIPTIONS_MAX: positiveInt(10_000),
  HTTP_SUBSCRIPTIONS_MAX_PER_IP: positiveInt(100),
  HTTP_SUBSCRIPTIONS_MAX_PER_USER: positiveInt(20),
  /** A heartbeat on each HTTP subscription stream this often, so proxies keep quiet streams open. (5 s) */
  SUBSCRIPTION_HEARTBEAT_MS: z.coerce.number().int().min(100).max(120_000).default(5_000),
  /** Undelivered events one subscriber may have before it is cut off (it can resume with `after`). */
  WS_MAX_QUEUED_EVENTS: z.coerce.number().int().min(1).default(1000),
  /** Also keep the read-your-writes token in an HTTP-only cookie (browsers), besides the `x-consistency-token` header. */
  CONSISTENCY_COOKIE: z.enum(['true', 'false']).default('false'),
  /** How long a consistency token is honoured; keep it above every subgraph's DATABASE_REPLICA_MAX_LAG_MS. */
  CONSISTENCY_TOKEN_TTL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(300),
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
   * Safelist mode per first-party client name (`apollographql-client-name`): off | audit | enforce;
   * `"*"` applies to every other client, named or not. Partners are always enforced.
   */
  /**
   * The client registry (gateway/persisted-queries/client-registry.ts): one folder per partner with
   * its hashed keys and versioned manifests, re-read every CLIENT_REGISTRY_POLL_MS; unset: none.
   */
  CLIENT_REGISTRY_DIR: z.string().optional(),
  CLIENT_REGISTRY_POLL_MS: z.coerce.number().int().min(100).max(10_000).default(2_000),
  SAFELIST_MODES: json(z.record(z.string(), z.enum(['off', 'audit', 'enforce']))).prefault('{}'),
  ...limitsShape,
  ...subgraphFetchShape,
});

export type BaseConfig = z.infer<typeof baseSchema>;
export type EventConfig = z.infer<typeof eventSchema>;
export type ConsumerRetryConfig = z.infer<typeof consumerRetrySchema>;
export type DatabaseConfig = z.infer<typeof databaseSchema>;
/** What every subgraph's config has: the base, its database, the services it trusts. */
export type SubgraphBaseConfig = z.infer<typeof subgraphBaseSchema>;
export type SubgraphName = Subgraph;
export type SubgraphConfig<N extends SubgraphName> = z.infer<(typeof subgraphSchemas)[N]>;
export type GatewayConfig = z.infer<typeof gatewaySchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Parses env against schema; throws ConfigError listing every problem by variable name. */
export function parseConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): Readonly<z.infer<S>> {
  const result = schema.safeParse(env);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  return Object.freeze(result.data);
}

/** For index.ts files: parse or print the problems and exit non-zero. */
export function loadConfigOrExit<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): Readonly<z.infer<S>> {
  try {
    return parseConfig(schema, env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}
