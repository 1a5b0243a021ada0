import type express from 'express';
import type { ApolloServerPlugin } from '@apollo/server';
import type { GraphQLError, ParseOptions, ValidationRule } from 'graphql';
import type { RedisGuard } from '../../platform/redis-guard.js';
import type { Identity } from '../../platform/auth/identity.js';
import type { GatewayConfig } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';
import type { GatewayContext } from '../context.js';
import { createCostBudgetPlugin, createCostCeiling } from './cost-budget.js';
import type { CostCeiling } from './cost-budget.js';
import { createLoginProtection } from './login-protection.js';
import type { CostHints } from './operation-cost.js';
import { createOperationLimits } from './operation-limits.js';
import { createRequestRateLimit } from './request-rate-limit.js';

export { clientAddress } from './client-ip.js';
export type { TrustProxy } from './client-ip.js';

export interface Limits {
  /** After the edge middleware (they read its EdgeRequest). */
  middleware: express.RequestHandler[];
  plugins: ApolloServerPlugin<GatewayContext>[];
  /** For ApolloServer (and the subscription server, for subscription documents). */
  validationRules: ValidationRule[];
  parseOptions: ParseOptions;
  /** For the subscription server: request counts for operations sent over WebSockets. */
  // A property, not a method: it is handed on detached (to the WebSocket server).
  admitSocketOperation: (identity: Identity, ip: string | undefined) => Promise<GraphQLError | undefined>;
  /** For the subscription core: the static cost ceiling, as HTTP requests meet it. */
  costCeiling: CostCeiling;
}

/**
 * Everything that bounds what one client can make the graph do: the shape of an operation
 * (graphql-armor), request counts per partner / user / IP, partners' cost budgets per minute, and
 * sign-in attempts (LOGIN_FIELD). Counters live in the gateway's Redis, so every instance enforces one limit.
 */
export function createLimits(deps: {
  config: GatewayConfig;
  redis: RedisGuard | null;
  log: Logger;
  /** The loaded supergraph's @cost / @listSize (gateway/supergraph-load.ts). */
  costHints: () => CostHints;
}): Limits {
  const { config, redis, log } = deps;
  const operation = createOperationLimits(config);
  const requests = createRequestRateLimit({ config, redis, log });
  const hints = deps.costHints;
  return {
    middleware: [requests.middleware],
    plugins: [...operation.plugins, createCostBudgetPlugin({ config, redis, hints }), createLoginProtection({ config, redis, log })],
    validationRules: operation.validationRules,
    parseOptions: operation.parseOptions,
    admitSocketOperation: requests.admit,
    costCeiling: createCostCeiling({ config, hints }),
  };
}
