import { z } from 'zod';
import { json, jwk } from './fields.js';
import { redisSchema } from './redis.js';

/** What every service reads: events, consumer retries, HTTP server bounds, logging, tracing, shutdown, its signing key. */

export const eventSchema = redisSchema.extend({
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

export type BaseConfig = z.infer<typeof baseSchema>;
export type EventConfig = z.infer<typeof eventSchema>;
export type ConsumerRetryConfig = z.infer<typeof consumerRetrySchema>;
