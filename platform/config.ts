/**
 * Every service parses its environment once, at start-up, with one of the schemas below.
 * A bad value stops the process with a message naming each offending variable.
 *
 * The schemas live in platform/config/ by concern: fields.ts (the zod building blocks), shared.ts
 * (what every service reads), subgraph.ts (databases and each subgraph), gateway.ts and
 * gateway-limits.ts (the gateway), redis.ts (reaching Redis: URL or Sentinel, command deadline), parse.ts (parsing and the exit on a bad value). This module is
 * the one import every service uses.
 */
export { baseSchema, consumerRetrySchema, eventSchema, httpServerSchema } from './config/shared.js';
export type { BaseConfig, ConsumerRetryConfig, EventConfig, HttpServerConfig } from './config/shared.js';
export { subgraphSchemas } from './config/subgraph.js';
export type { DatabaseConfig, SubgraphBaseConfig, SubgraphConfig, SubgraphName } from './config/subgraph.js';
export { redisSchema } from './config/redis.js';
export type { RedisConfig } from './config/redis.js';
export { gatewaySchema } from './config/gateway.js';
export type { GatewayConfig } from './config/gateway.js';
export { ConfigError, loadConfigOrExit, parseConfig } from './config/parse.js';
