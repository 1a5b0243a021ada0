import { getHeapStatistics } from 'node:v8';
import bytes from 'bytes';
import { z } from 'zod';
import { csv, json, metricsPort, port, positiveInt, serviceUrl } from './fields.js';
import { limitsShape, subgraphFetchShape } from './gateway-limits.js';
import { baseSchema } from './shared.js';
import { usageShape } from './usage.js';

/** The gateway's config: routing, client auth, WebSockets, caches, persisted queries, limits. */

/** This process's V8 heap limit, in MB. */
export const heapLimitMb = (): number => Math.floor(getHeapStatistics().heap_size_limit / 1_048_576);

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
  SUPERGRAPH_PATH: z
    .string()
    .default('schema/supergraph.graphql')
    .describe('the composed supergraph the gateway serves (`npm run compose`)'),
  SUPERGRAPH_URL: serviceUrl
    .optional()
    .describe(
      'a URL serving the supergraph SDL (a registry, an object store), polled with `If-None-Match`; a changed answer is loaded like a changed SUPERGRAPH_PATH file; unset: the file alone',
    ),
  SUPERGRAPH_POLL_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(2_000)
    .describe(
      'how often the gateway re-reads SUPERGRAPH_PATH (besides watching its folder) and polls SUPERGRAPH_URL; a new supergraph serves within about this long',
    ),
  SUBGRAPH_URLS: json(z.record(z.string(), serviceUrl))
    .prefault('{}')
    .describe(
      'routing overrides by the supergraph\'s own subgraph names, JSON `{"<subgraph>": "<base url>"}` (`/graphql` appended; load balancers, Kubernetes Services); unset names keep the supergraph\'s routing URL; a name the supergraph does not have stops the gateway',
    ),
  // @apollo/gateway reads only this environment variable (no constructor option): the process entry
  // (gateway/index.ts, or the in-process runner) sets it from the parsed value before building the gateway.
  APOLLO_TELEMETRY_DISABLED: z
    .enum(['true', 'false'])
    .default('true')
    .describe('`@apollo/gateway` otherwise reports usage to Apollo and probes cloud metadata endpoints (169.254.169.254) at start-up'),
  USERS_JWKS_URL: serviceUrl
    .default('http://127.0.0.1:4001/.well-known/jwks.json')
    .describe("the users service's public keys, for verifying customer tokens"),
  JWT_ISSUER: z.string().default('urn:supergraph:users').describe('the `iss` customer tokens must carry'),
  JWT_AUDIENCE: z.string().default('urn:supergraph').describe('the `aud` customer tokens must carry'),
  EXTERNAL_JWKS_URL: serviceUrl.optional().describe('an external identity provider whose tokens the gateway also accepts: its JWKS'),
  EXTERNAL_JWT_ISSUER: z.string().optional().describe("that provider's `iss`"),
  EXTERNAL_JWT_AUDIENCE: z.string().optional().describe("that provider's `aud`"),
  BODY_LIMIT: z
    .string()
    .default('2mb')
    .transform((v, ctx) => {
      const limit = bytes.parse(v);
      if (limit !== null && Number.isFinite(limit) && limit > 0) return limit;
      ctx.addIssue({ code: 'custom', message: 'a size such as 2mb, 512kb or 1048576 (bytes)' });
      return z.NEVER;
    })
    .describe('request body cap (e.g. `2mb`, `512kb`, or bytes)'),
  WS_MAX_PAYLOAD_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(64 * 1024)
    .describe('largest graphql-ws message a client may send'),
  WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: z.coerce.number().int().min(1).default(20).describe('subscriptions one WebSocket may have open'),
  WS_MAX_CONNECTIONS: positiveInt(10_000).describe(
    "open WebSockets per gateway, beyond which the upgrade is 503; keep it well under the process's file-descriptor limit (`ulimit -n`), so sockets never starve HTTP",
  ),
  WS_MAX_CONNECTIONS_PER_IP: positiveInt(100).describe(
    'open WebSockets per client address (as `TRUST_PROXY` reads it), beyond which the upgrade is 429',
  ),
  WS_ANONYMOUS_IDLE_MS: positiveInt(30_000).describe(
    'an anonymous connection with no subscription open is closed with 4410 after this long',
  ),
  HTTP_SUBSCRIPTIONS_MAX: positiveInt(10_000).describe(
    'subscriptions streamed over HTTP (multipart, SSE) per gateway, beyond which 503; each stream is a socket, as a WebSocket is — see Subscriptions in frontend',
  ),
  HTTP_SUBSCRIPTIONS_MAX_PER_IP: positiveInt(100).describe('HTTP subscription streams per client address on a gateway (beyond: 429)'),
  HTTP_SUBSCRIPTIONS_MAX_PER_USER: positiveInt(20).describe(
    'HTTP subscription streams per signed-in user across all gateways, in Redis (beyond: 429)',
  ),
  HTTP_SUBSCRIPTIONS_MAX_PER_PARTNER: positiveInt(100).describe(
    'HTTP subscription streams per partner key across all gateways, in Redis (beyond: 429)',
  ),
  SUBSCRIPTION_HEARTBEAT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(120_000)
    .default(5_000)
    .describe('a heartbeat on each HTTP subscription stream this often, so proxies keep quiet streams open'),
  WS_MAX_QUEUED_EVENTS: z.coerce
    .number()
    .int()
    .min(1)
    .default(1000)
    .describe('undelivered events one subscriber may have before it is cut off (it can resume with `after`)'),
  CONSISTENCY_COOKIE: z
    .enum(['true', 'false'])
    .default('false')
    .describe('also keep the read-your-writes token in an HTTP-only cookie (browsers), besides the `x-consistency-token` header'),
  CONSISTENCY_TOKEN_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(86_400)
    .default(300)
    .describe("how long a consistency token counts; keep it above every subgraph's `DATABASE_REPLICA_MAX_LAG_MS`"),
  CORS_ORIGINS: corsOrigins.describe(
    'browser origins allowed to call `/graphql` from another origin, comma-separated: exact (`https://app.example.com`) or `https://*.example.com` (one or more labels); unset: none, same-origin only; credentials allowed when `CONSISTENCY_COOKIE=true` — see Frontend teams',
  ),
  CONSISTENCY_TOKEN_SECRETS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().min(32, 'each secret needs at least 32 characters')))
    .describe(
      'HMAC keys of the consistency token, comma-separated, 32+ characters each; the first signs, all verify (rotation); empty: derived from `SERVICE_PRIVATE_JWK`, which every gateway of a deployment shares',
    ),
  GRAPHIQL: z
    .enum(['true', 'false'])
    .optional()
    .describe('GraphiQL on `GET /graphql` for browsers (offline bundle); unset: on unless `NODE_ENV=production` — see Frontend teams'),
  GRAPHIQL_DEFAULT_QUERY: z.string().default(GRAPHIQL_WELCOME).meta({
    description: "the document GraphiQL's first tab opens with",
    defaultText: 'a sign-in mutation and a product query of this graph',
  }),
  ENTITY_CACHE_ENABLED: z
    .enum(['true', 'false'])
    .default('true')
    .describe(
      'the entity cache (`gateway/cache/`): subgraph query fetches their subgraph declares public with a max-age, shared through Redis, dropped by the domain events that change them; off without `REDIS_URL` — see Caching in operators',
    ),
  RESPONSE_CACHE_ENABLED: z
    .enum(['true', 'false'])
    .default('true')
    .describe(
      'the response cache: whole answers of anonymous and partner queries whose every subgraph fetch was public with a max-age, in Redis, dropped by the same events; off without `REDIS_URL`',
    ),
  CACHE_MAX_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(86_400)
    .default(300)
    .describe('the longest either cache keeps an entry, whatever max-age the subgraphs gave'),
  CACHE_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(5)
    .max(5_000)
    .default(100)
    .describe(
      "a cache read or write slower than this counts as a miss (Redis away or overloaded: uncached, never stale; the caches' own Redis deadline)",
    ),
  CACHE_EVENT_SKEW_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(30_000)
    .default(2_000)
    .describe(
      "how long after an event an answer read from a replica (or from another gateway's entries) is not stored: the replica's replay lag and the event's delivery to every gateway must fit in it; answers read from a primary are exempt",
    ),
  CACHE_LOCAL_MAX_MB: z.coerce
    .number()
    .int()
    .min(0)
    .max(4_096)
    .default(64)
    // The entries live in this process's heap, whose limit V8 sets from the container's memory (or
    // NODE_OPTIONS --max-old-space-size). Past half of it they would run the gateway out of heap under
    // load, hours after a start that looked fine: refused at start instead.
    .refine((mb) => mb <= heapLimitMb() / 2, {
      error: `more than half of this process's heap limit (${heapLimitMb()} MB, from the container's memory or NODE_OPTIONS --max-old-space-size): lower it or give the gateway more memory`,
    })
    .describe(
      "memory each gateway keeps of the Redis cache's entries, checked against the events it heard; `0`: none. At most half of the heap limit V8 gives the process (from the container's memory: 352 MB in 512 MiB; or `--max-old-space-size`), else the gateway does not start",
    ),
  APQ_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .default(24 * 3600)
    .describe('how long an automatic persisted query stays registered (shared by all gateways through Redis)'),
  PERSISTED_QUERIES_DIR: z
    .string()
    .default('persisted-queries')
    .describe("trusted-document manifests, one `<client-name>.json` per client (Apollo's persisted-query-manifest format)"),
  // Keys are 256-bit random, so a fast hash (sha256) is enough to store them.
  PARTNER_API_KEYS: json(
    z.array(
      z.object({
        id: z.string().min(1),
        client: z.string().regex(/^[\w.-]+$/),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        revoked: z.boolean().default(false),
      }),
    ),
  )
    .prefault('[]')
    .describe(
      'partner API keys, stored only as sha256 of the key, JSON `[{id, client, sha256, revoked?}]`; `npm run partner:key -- <client>` mints one — see Partners',
    ),
  CLIENT_REGISTRY_DIR: z
    .string()
    .optional()
    .describe(
      'the client registry (`gateway/persisted-queries/client-registry.ts`): one folder per partner with its hashed keys and versioned manifests; unset: none (`npm start`: `.data/clients`)',
    ),
  CLIENT_REGISTRY_POLL_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(10_000)
    .default(2_000)
    .describe('how often every gateway re-reads the client registry'),
  SAFELIST_MODES: json(z.record(z.string(), z.enum(['off', 'audit', 'enforce'])))
    .prefault('{}')
    .describe(
      'safelist mode per first-party client name (`apollographql-client-name`), JSON `{"<client>": "off" | "audit" | "enforce", "*": …}`; `"*"` applies to every other client, named or not; partners are always enforced',
    ),
  ...limitsShape,
  ...subgraphFetchShape,
  ...usageShape,
});

export type GatewayConfig = z.infer<typeof gatewaySchema>;
