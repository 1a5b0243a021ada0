import { z } from 'zod';
import { json, jwk } from './fields.js';
import { redisSchema } from './redis.js';

/**
 * What every service reads: events, consumer retries, HTTP server bounds, logging, tracing, shutdown, its signing key.
 * Each variable's `.describe()` is its line in docs/configuration.md (`npm run docs:config`); the default is
 * read from the schema itself, so it is written once, here.
 */

export const eventSchema = redisSchema.extend({
  EVENT_NAMESPACE: z
    .string()
    .regex(/^[\w:.-]*$/)
    .default('')
    .describe('prefix of every Redis key and stream, so several deployments can share one Redis'),
  EVENT_RETENTION_HOURS: z.coerce
    .number()
    .min(0.001)
    .max(24 * 30)
    .default(24)
    .describe('how long events stay replayable (subscription resume with `after`, late consumers)'),
  EVENT_CLAIM_IDLE_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(30_000)
    .describe('a delivered event left unacknowledged this long is reclaimed from its (crashed) consumer'),
});

/** How consumers retry a failing event (services that consume; the gateway only reads streams). */
export const consumerRetrySchema = z.object({
  EVENT_MAX_ATTEMPTS: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000)
    .default(8)
    .describe('a consumer tries a failing event this many times before parking it as a dead letter (`npm run events:dead-letters`)'),
  EVENT_RETRY_BASE_MS: z.coerce
    .number()
    .int()
    .min(1)
    .default(500)
    .describe('first retry delay of a failing event; it doubles per try, with jitter, up to `EVENT_RETRY_MAX_MS`'),
  EVENT_RETRY_MAX_MS: z.coerce.number().int().min(1).default(60_000).describe('longest delay between two tries of a failing event'),
});

/** Bounds on how long a client may take to send a request (run-service.ts); slow senders hold sockets. */
export const httpServerSchema = z.object({
  HTTP_HEADERS_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(10_000)
    .describe("time a client has to send a request's headers; then 408 and the connection is closed (Node's default: 60 s)"),
  HTTP_REQUEST_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(30_000)
    .describe("time a client has to send its whole request, body included; then 408 and the connection is closed (Node's default: 300 s)"),
});
export type HttpServerConfig = z.infer<typeof httpServerSchema>;

export const baseSchema = eventSchema
  .extend(consumerRetrySchema.shape)
  .extend(httpServerSchema.shape)
  .extend({
    NODE_ENV: z
      .enum(['development', 'production', 'test'])
      .default('development')
      .describe('`production` turns introspection, the landing page and GraphiQL off; `test` allows the fault-injection hooks'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level'),
    HOST: z.string().default('0.0.0.0').describe('listen address'),
    SERVICE_PRIVATE_JWK: json(jwk).describe(
      "this service's private ES256 JWK for signing its service-to-service calls, `kid` = `<service>.<version>`",
    ),
    SHUTDOWN_GRACE_MS: z.coerce
      .number()
      .int()
      .min(0)
      .default(10_000)
      .describe('on SIGTERM, after the drain window: the bound for in-flight work before the process exits'),
    SHUTDOWN_DRAIN_MS: z.coerce
      .number()
      .int()
      .min(0)
      .default(2_000)
      .describe('on SIGTERM, keep serving this long (closing each connection after its response) before refusing new ones'),
    OTEL_EXPORTER_OTLP_ENDPOINT: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('OTLP/HTTP collector base URL for traces (`<url>/v1/traces`); unset: no tracing at all — see Observability in operators'),
    OTEL_TRACES_SAMPLER_ARG: z.coerce
      .number()
      .min(0)
      .max(1)
      .default(1)
      .describe("share of new traces kept (a caller's sampled `traceparent` is always followed)"),
    LOG_DESTINATION: z.string().min(1).optional().describe('append JSON logs to this file instead of stdout'),
  });

export type BaseConfig = z.infer<typeof baseSchema>;
export type EventConfig = z.infer<typeof eventSchema>;
export type ConsumerRetryConfig = z.infer<typeof consumerRetrySchema>;
