import { z } from 'zod';
import { json, positiveInt } from './fields.js';

/** Gateway limits (gateway/limits/): operation shape, rate limits, partner cost budgets, logIn attempts. */
export const limitsShape = {
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
  /**
   * Nesting of a request's JSON body (variables, extensions), checked on the raw bytes before it is
   * parsed: deeper values would overflow the stack of every recursive walk over variables. (64)
   */
  LIMIT_MAX_JSON_DEPTH: positiveInt(64),
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
export const subgraphFetchShape = {
  /** Deadline of one query fetch to a subgraph, connect included. (3,000 ms) */
  SUBGRAPH_TIMEOUT_MS: z.coerce.number().int().min(100).default(3_000),
  /** Per-subgraph query deadlines, JSON `{"<subgraph>": ms}`, over SUBGRAPH_TIMEOUT_MS. (`{}`) */
  SUBGRAPH_TIMEOUTS: json(z.record(z.string(), z.number().int().min(100))).prefault('{}'),
  /**
   * Deadline of opening a connection to a subgraph, apart from the response deadline: a host that
   * drops packets (no RST) fails its fetches after this, so the breaker opens in milliseconds
   * instead of one response deadline per request. (500 ms)
   */
  SUBGRAPH_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(10).max(60_000).default(500),
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
