import { z } from 'zod';
import { json, positiveInt } from './fields.js';

/** Gateway limits (gateway/limits/): operation shape, rate limits, partner cost budgets, logIn attempts. */
export const limitsShape = {
  // Anything more trusting than the real network path lets a client forge its address.
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
    )
    .describe(
      "Express `trust proxy`: which hops may name the client's address in `X-Forwarded-For` (rate limits and sign-in attempts per IP): `true`, `false`, a hop count, or comma-separated addresses, CIDRs and `loopback`, `linklocal`, `uniquelocal` (compose and k8s: `uniquelocal`)",
    ),
  LIMIT_MAX_DEPTH: positiveInt(10).describe('field nesting, leaves included; the AccountPage query is 8 deep'),
  LIMIT_MAX_ALIASES: positiveInt(15).describe('aliased fields per operation (`__typename` aliases are free)'),
  LIMIT_MAX_DIRECTIVES: positiveInt(20).describe('directive uses per operation'),
  // Checked on the raw bytes before parsing: deeper values would overflow the stack of every recursive walk over variables.
  LIMIT_MAX_JSON_DEPTH: positiveInt(64).describe(
    "nesting of a request's JSON body (variables, extensions), checked before it is parsed; deeper is 400 `BAD_REQUEST`",
  ),
  LIMIT_MAX_TOKENS: positiveInt(1000).describe('lexical tokens per document, checked while parsing; AccountPage is 68'),
  LIMIT_MAX_ARMOR_COST: positiveInt(50_000).describe(
    "graphql-armor's structural cost of the document text (objects 2, scalars 1, ×1.5 per level, × literal `first` only): AccountPage is 272 with `first: $n`, 27,150 with `first: 100` written in — see Limits in partners",
  ),
  LIMIT_MAX_OPERATION_COST: positiveInt(10_000).describe(
    'static cost (`gateway/limits/operation-cost.ts`, variables and `@listSize` applied) above which an operation is refused outright',
  ),
  COST_DEFAULT_LIST_SIZE: positiveInt(10).describe('assumed length of a list field without a slicing argument or `@listSize(assumedSize)`'),
  PARTNER_COST_BUDGET_PER_MINUTE: positiveInt(50_000).describe(
    "static cost each partner API key may spend per minute, shared by all gateway instances; a registry client's own `limits` override it",
  ),
  RATE_LIMIT_WINDOW_SECONDS: positiveInt(60).describe('fixed window for the request rate limits below'),
  RATE_LIMIT_ANONYMOUS: positiveInt(300).describe(
    'requests per window per client IP, for calls with neither a partner key nor a user token',
  ),
  RATE_LIMIT_USER: positiveInt(600).describe('requests per window per signed-in user, whatever IP they come from'),
  RATE_LIMIT_PARTNER: positiveInt(3000).describe("requests per window per partner API key; a registry client's own `limits` override it"),
  RATE_LIMIT_LEASE: positiveInt(1).describe(
    'request counts taken from Redis this many at a time and handed out in memory, one Redis call per lease instead of one per request (1: every request counted in Redis). The gateways together never admit more than a limit; a key may be refused up to gateways × (lease − 1) requests early. `test/rate-limit-leases.test.ts`: 200 requests over 2 gateways, limit 100, lease 20: 100 admitted, 6 Redis calls (200 with lease 1)',
  ),
  COST_BUDGET_LEASE: positiveInt(1).describe(
    "partners' cost budget points taken from Redis this many at a time and spent in memory, one Redis call per lease instead of one per operation (1: every operation charged in Redis). As RATE_LIMIT_LEASE: the gateways together never spend more than a budget; a key may be refused up to gateways × (lease − 1) points early",
  ),
  LOGIN_MAX_FAILURES_PER_ACCOUNT: positiveInt(5).describe(
    'failed logIn attempts per account (normalized email) per `LOGIN_WINDOW_SECONDS`; a success resets it',
  ),
  LOGIN_MAX_FAILURES_PER_IP: positiveInt(50).describe(
    'failed logIn attempts per client IP per `LOGIN_WINDOW_SECONDS`, whatever the accounts',
  ),
  LOGIN_WINDOW_SECONDS: positiveInt(900).describe('the window both sign-in counts are kept over'),
  LOGIN_FIELD: z
    .string()
    .regex(/^[_A-Za-z]\w*\.[_A-Za-z]\w*$/, 'must be a field coordinate, Type.field')
    .default('Mutation.logIn')
    .describe(
      'the root mutation field whose failed attempts are counted, by schema coordinate; a supergraph without it has nothing protected',
    ),
  LOGIN_ACCOUNT_ARGUMENT: z
    .string()
    .regex(/^[_A-Za-z]\w*(\.[_A-Za-z]\w*)*$/, 'must be a dotted argument path, e.g. input.email')
    .default('input.email')
    .describe("where in that field's arguments the account is named, as a dotted path"),
};

/**
 * Gateway to subgraph fetches (gateway/subgraph-source.ts, gateway/circuit-breaker.ts): timeouts,
 * retries of queries, and the circuit breaker each subgraph gets. Subgraph names come from the
 * supergraph; per-subgraph overrides naming an unknown subgraph stop the gateway at start-up.
 */
export const subgraphFetchShape = {
  SUBGRAPH_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(3_000)
    .describe('deadline of one query fetch to a subgraph, connect included — see When a subgraph is down in operators'),
  SUBGRAPH_TIMEOUTS: json(z.record(z.string(), z.number().int().min(100)))
    .prefault('{}')
    .describe('per-subgraph query deadlines, JSON `{"<subgraph>": ms}`, over `SUBGRAPH_TIMEOUT_MS`; an unknown name stops the gateway'),
  // A host that drops packets (no RST) fails its fetches after this, so the breaker opens in
  // milliseconds instead of one response deadline per request.
  SUBGRAPH_CONNECT_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(10)
    .max(60_000)
    .default(500)
    .describe(
      'deadline of opening a connection to a subgraph, apart from the response deadline: a dead host fails fast and opens the breaker',
    ),
  SUBGRAPH_MUTATION_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(10_000)
    .describe('deadline of a mutation fetch (placeOrder waits on a call to catalog); never retried'),
  SUBGRAPH_RETRIES: z.coerce
    .number()
    .int()
    .min(0)
    .max(3)
    .default(1)
    .describe('extra attempts of a query fetch refused, reset or answered 502/503/504, with jittered backoff; 0 turns retries off'),
  SUBGRAPH_DEDUP_ENABLED: z
    .enum(['true', 'false'])
    .default('true')
    .describe(
      'in-flight deduplication: a query fetch identical to one on its way to the subgraph (same URL, body and headers, so the same caller) waits for that answer instead of sending its own; mutations and read-your-writes fetches are always sent',
    ),
  SUBGRAPH_BREAKER_CONSECUTIVE_FAILURES: positiveInt(5).describe(
    "consecutive failed fetches (network, timeout, 5xx) that open a subgraph's breaker",
  ),
  SUBGRAPH_BREAKER_FAILURE_RATE: z.coerce
    .number()
    .gt(0)
    .lt(1)
    .default(0.5)
    .describe('or: this share of fetches failed over `SUBGRAPH_BREAKER_WINDOW_MS` (at 2 fetches/s or more)'),
  SUBGRAPH_BREAKER_WINDOW_MS: z.coerce.number().int().min(1000).default(10_000).describe('the window that failure rate is measured over'),
  SUBGRAPH_BREAKER_HALF_OPEN_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(3_000)
    .describe("while a breaker is open, it probes the subgraph's `/health/ready` this often; one success closes it"),
};
