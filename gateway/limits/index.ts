import type { ApolloServerPlugin } from '@apollo/server';
import type { ParseOptions, ValidationRule } from 'graphql';
import type { RedisGuard } from '../../platform/redis-guard.js';
import type { GatewayConfig } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';
import type { GatewayContext } from '../request.js';
import { createCostBudget, createCostCeiling } from './cost-budget.js';
import type { CostBudget, CostCeiling } from './cost-budget.js';
import { createLoginProtection } from './login-protection.js';
import type { CostHints } from './operation-cost.js';
import { createOperationLimits } from './operation-limits.js';
import { createRequestRateLimit } from './request-rate-limit.js';
import type { RequestRateLimit } from './request-rate-limit.js';

export interface Limits {
  /** Request counts per partner / user / IP: the edge's admission step (gateway/edge/), on every transport. */
  countRequest: RequestRateLimit;
  /** Inside Apollo's pipeline (they need the parsed, validated operation). */
  plugins: ApolloServerPlugin<GatewayContext>[];
  /** The operation's shape: the edge hands them to every transport's parser and validator. */
  validationRules: ValidationRule[];
  parseOptions: ParseOptions;
  /** For the subscription core: the static cost ceiling, as HTTP requests meet it. */
  costCeiling: CostCeiling;
  /** Partners' cost budgets: what an answer given before the pipeline (the response cache's edge hits) charges. */
  costBudget: Pick<CostBudget, 'charge'>;
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
  const hints = deps.costHints;
  const costBudget = createCostBudget({ config, redis, hints });
  return {
    countRequest: createRequestRateLimit({ config, redis, log }),
    plugins: [...operation.plugins, costBudget.plugin, createLoginProtection({ config, redis, log })],
    costBudget,
    validationRules: operation.validationRules,
    parseOptions: operation.parseOptions,
    costCeiling: createCostCeiling({ config, hints }),
  };
}
