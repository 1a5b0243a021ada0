import { z } from 'zod';
import type { Subgraph } from '../subgraphs.js';
import { csv, json, jwks, jwk, metricsPort, port, serviceUrl } from './fields.js';
import { baseSchema } from './shared.js';

/** The subgraphs' config: the database every one has, and each one's own variables. */

export const databaseSchema = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).describe("the subgraph's primary database"),
  DATABASE_REPLICA_URLS: csv
    .pipe(z.array(z.url({ protocol: /^postgres(ql)?$/ })))
    .describe('comma-separated read replica URLs (reads); empty: every read goes to the primary'),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10).describe('connection pool size'),
  DATABASE_REPLICA_MAX_LAG_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(10_000)
    .describe('a replica further behind the primary than this leaves the read rotation until it catches up'),
  DATABASE_REPLICA_POLL_MS: z.coerce
    .number()
    .int()
    .min(10)
    .max(10_000)
    .default(100)
    .describe("how often each replica's replay position and lag are polled (requests compare against the cached value)"),
  DATALOADER_DISABLED: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true')
    .describe('`true`: no DataLoader batching or per-request cache, every load its own statement (the benchmark\'s "DataLoader off" runs)'),
});

/** What every subgraph reads besides the base: its database, and which services may call it. */
export const subgraphBaseSchema = baseSchema.extend(databaseSchema.shape).extend({
  TRUSTED_SERVICE_JWKS: json(jwks).describe(
    'public keys (JSON JWKS) of every service allowed to call this one (rotation: list old and new); the gateway is called by clients only and does not read it',
  ),
});

const internalCallShape = {
  INTERNAL_CALL_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(60_000)
    .default(5_000)
    .describe(
      'deadline of one service-to-service call (connection and answer); a placeOrder statement is bounded to this, its transaction to 6 × this',
    ),
};

const ordersUrl = (why: string) => serviceUrl.default('http://127.0.0.1:4003').describe(`orders' internal routes: ${why}`);

export const subgraphSchemas = {
  users: subgraphBaseSchema.extend({
    PORT: port(4001),
    METRICS_PORT: metricsPort(9401),
    JWT_PRIVATE_JWK: json(jwk).describe('private ES256 JWK the users service signs customer tokens with'),
    JWT_PREVIOUS_PUBLIC_JWKS: json(z.object({ keys: z.array(jwk) }))
      .optional()
      .describe('extra public keys (JSON JWKS) to keep publishing while rotating'),
    JWT_ISSUER: z.string().default('urn:supergraph:users').describe("customer tokens' `iss`"),
    JWT_AUDIENCE: z.string().default('urn:supergraph').describe("customer tokens' `aud`"),
    JWT_TTL_SECONDS: z.coerce.number().int().min(60).max(86_400).default(3600).describe('lifetime of a customer token'),
  }),
  catalog: subgraphBaseSchema.extend({
    PORT: port(4002),
    METRICS_PORT: metricsPort(9402),
    ORDERS_URL: ordersUrl('catalog asks whether an order holds a reservation before releasing it'),
    RESERVATION_TTL_SECONDS: z.coerce
      .number()
      .int()
      .min(1)
      .max(86_400)
      .default(60)
      .describe(
        'a reservation no order has confirmed this long after its creation is checked with orders and released if no order holds it — see Stock reservations in architecture',
      ),
    ...internalCallShape,
  }),
  orders: subgraphBaseSchema.extend({
    PORT: port(4003),
    METRICS_PORT: metricsPort(9403),
    CATALOG_URL: serviceUrl
      .default('http://127.0.0.1:4002')
      .describe('where stock is reserved: a synchronous call (everything else between services is events)'),
    ...internalCallShape,
  }),
  billing: subgraphBaseSchema
    .extend({
      PORT: port(4004),
      METRICS_PORT: metricsPort(9404),
      ORDERS_URL: ordersUrl("billing asks an order's status before a charge and cancels it before refunding an unshipped order"),
      PAYMENT_PROVIDER_URL: serviceUrl
        .optional()
        .describe('a Stripe-shaped HTTP payment provider; unset: the embedded test mode — see Money in architecture'),
      ...internalCallShape,
      PAYMENT_PROVIDER_TIMEOUT_MS: z.coerce
        .number()
        .int()
        .min(100)
        .default(10_000)
        .describe(
          "a provider call's timeout: past it the payment stays `PENDING`, the client gets `SERVICE_UNAVAILABLE` and retries with the same key",
        ),
      PAYMENT_RECONCILE_AFTER_MS: z.coerce
        .number()
        .int()
        .min(100)
        .default(30_000)
        .describe('a payment left `PENDING` this long (a crash between charge and commit) is settled from the provider'),
      PAYMENT_RECONCILE_INTERVAL_MS: z.coerce
        .number()
        .int()
        .min(100)
        .default(10_000)
        .describe('how often the reconciler looks for such payments (also once at start)'),
      FAULT_KILL_AFTER_CHARGE_TOKEN: z
        .string()
        .optional()
        .transform((v) => (v === '' ? undefined : v))
        .describe(
          'tests only (`NODE_ENV=test`, else the process refuses to start): SIGKILL right after the provider charged this card token (a first charge, not a replay), before the outcome commits; empty: off',
        ),
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
