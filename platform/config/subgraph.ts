import { z } from 'zod';
import type { Subgraph } from '../subgraphs.js';
import { csv, json, jwks, jwk, metricsPort, port, serviceUrl } from './fields.js';
import { baseSchema } from './shared.js';

/** The subgraphs' config: the database every one has, and each one's own variables. */

export const databaseSchema = z.object({
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

/** What every subgraph reads besides the base: its database, and which services may call it. */
export const subgraphBaseSchema = baseSchema.extend(databaseSchema.shape).extend({
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

export type DatabaseConfig = z.infer<typeof databaseSchema>;
/** What every subgraph's config has: the base, its database, the services it trusts. */
export type SubgraphBaseConfig = z.infer<typeof subgraphBaseSchema>;
export type SubgraphName = Subgraph;
export type SubgraphConfig<N extends SubgraphName> = z.infer<(typeof subgraphSchemas)[N]>;
