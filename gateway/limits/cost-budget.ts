import type { ApolloServerPlugin } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import type { RedisGuard } from '../../platform/redis-guard.js';
import type { GatewayConfig } from '../../platform/config.js';
import { badInput } from '../../platform/errors.js';
import type { GatewayContext } from '../context.js';
import { createLimiterSet, rateLimitedError } from './limiter.js';
import { operationCost } from './operation-cost.js';
import type { CostHints } from './operation-cost.js';

/** What a response's `extensions.cost` tells the client. */
export interface CostReport {
  /** The operation's static cost (operation-cost.ts). */
  estimated: number;
  /** Partners only: their budget for the current minute, after this operation. */
  budget?: { perMinute: number; remaining: number; resetSeconds: number };
}

const withStatus = (err: ReturnType<typeof badInput>, status: number) => {
  (err.extensions as Record<string, unknown>).http = { status, headers: new HeaderMap([['cache-control', 'no-store']]) };
  return err;
};

/** 429 for a spent budget, with the cost budget (not the edge's request count) as the policy that refused it. */
function budgetSpent(perMinute: number, retryAfterSeconds: number) {
  const refused = rateLimitedError(
    `This API key's cost budget of ${perMinute} per minute is spent; retry after ${retryAfterSeconds} s.`,
    retryAfterSeconds,
  );
  const { headers } = (refused.extensions as unknown as { http: { headers: HeaderMap } }).http;
  headers.set('ratelimit-policy', `"cost";q=${perMinute};w=60`);
  headers.set('ratelimit', `"cost";r=0;t=${retryAfterSeconds}`);
  return refused;
}

/**
 * Static cost at the gateway, once the operation is known and before anything is planned:
 *   - any operation above LIMIT_MAX_OPERATION_COST is refused outright (BAD_USER_INPUT, 400):
 *     armor's cost rule cannot see `first: $n`, this one applies the variables;
 *   - a partner's operations are charged to its key's budget per minute, one Redis counter shared
 *     by every gateway instance; over budget is 429 RATE_LIMITED with Retry-After (when the key's
 *     minute ends), and an operation larger than a whole minute's budget is BAD_USER_INPUT, since
 *     waiting would not help. The cost is charged when the operation starts, whatever its outcome;
 *     a refused operation is charged nothing.
 * Responses to callers with a budget (partners) report the cost and what is left in
 * `extensions.cost`; everyone else's responses carry no cost extension (it would only be noise in
 * every payload). Subscription events, which run without an HTTP request, never do.
 */
export function createCostBudgetPlugin(deps: {
  config: GatewayConfig;
  redis: RedisGuard | null;
  hints: CostHints;
}): ApolloServerPlugin<GatewayContext> {
  const { config, hints } = deps;
  // A partner's own costBudgetPerMinute (client registry) else PARTNER_COST_BUDGET_PER_MINUTE: one limiter per distinct number.
  const budgetsOf = createLimiterSet(deps.redis, config.EVENT_NAMESPACE, { name: 'cost', durationSeconds: 60 });

  return {
    async requestDidStart() {
      let report: CostReport | undefined;
      return {
        async didResolveOperation({ schema, document, operation, request, contextValue }) {
          if (!operation) return;
          const estimated = operationCost(schema, document, operation, request.variables ?? {}, hints, {
            defaultListSize: config.COST_DEFAULT_LIST_SIZE,
          });
          report = { estimated };
          if (estimated > config.LIMIT_MAX_OPERATION_COST) {
            throw withStatus(
              badInput(
                `The operation's estimated cost ${estimated} is over the limit of ${config.LIMIT_MAX_OPERATION_COST}; ask for smaller pages.`,
                { cost: estimated, maxCost: config.LIMIT_MAX_OPERATION_COST },
              ),
              400,
            );
          }
          const partnerId = contextValue.client.partnerId;
          if (!partnerId || estimated === 0) return;
          const perMinute = contextValue.client.limits?.costBudgetPerMinute ?? config.PARTNER_COST_BUDGET_PER_MINUTE;
          const budgets = budgetsOf(perMinute);
          if (estimated > perMinute) {
            throw withStatus(
              badInput(`The operation's estimated cost ${estimated} is over this API key's budget of ${perMinute} per minute.`, {
                cost: estimated,
                budgetPerMinute: perMinute,
              }),
              400,
            );
          }
          const outcome = await budgets.consume(partnerId, estimated);
          if (!outcome.allowed) {
            // A refused operation spends nothing: what is left still serves cheaper ones.
            await budgets.refund(partnerId, estimated);
            report.budget = { perMinute, remaining: 0, resetSeconds: outcome.retryAfterSeconds };
            throw budgetSpent(perMinute, outcome.retryAfterSeconds);
          }
          report.budget = { perMinute, remaining: outcome.remaining, resetSeconds: outcome.resetSeconds };
        },
        async willSendResponse({ request, response }) {
          if (!report?.budget || !request.http || response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          result.extensions = { ...result.extensions, cost: report };
        },
      };
    },
  };
}
