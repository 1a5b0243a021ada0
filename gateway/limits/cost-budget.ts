import type { ApolloServerPlugin } from '@apollo/server';
import type { DocumentNode, GraphQLError, GraphQLSchema, OperationDefinitionNode } from 'graphql';
import { HeaderMap } from '@apollo/server';
import type { RedisGuard } from '../../platform/redis-guard.js';
import type { GatewayConfig } from '../../platform/config.js';
import type { ClientInfo, GatewayContext } from '../request.js';
import { createLimiterSet, rateLimitedError } from './limiter.js';
import { operationCost } from './operation-cost.js';
import { tooExpensive } from './operation-limits.js';
import type { CostHints, CostOptions } from './operation-cost.js';

/** What a response's `extensions.cost` tells the client. */
export interface CostReport {
  /** The operation's static cost (operation-cost.ts). */
  estimated: number;
  /** Partners only: their budget for the current minute, after this operation. */
  budget?: { perMinute: number; remaining: number; resetSeconds: number };
}

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

/** An operation's static cost, and the refusal when it is above LIMIT_MAX_OPERATION_COST. */
export type CostCeiling = (
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
) => { estimated: number; refusal?: GraphQLError };

/**
 * The one ceiling every transport applies: this plugin for HTTP (and queries over the WebSocket),
 * the subscription core for subscriptions over the WebSocket, multipart and SSE.
 */
/** `hints`: the loaded supergraph's @cost / @listSize (they follow a reload). */
export function createCostCeiling(deps: { config: GatewayConfig; hints: () => CostHints }): CostCeiling {
  const max = deps.config.LIMIT_MAX_OPERATION_COST;
  const costOf = createCostMemo({ defaultListSize: deps.config.COST_DEFAULT_LIST_SIZE });
  return (schema, document, operation, variables) => {
    const estimated = costOf(schema, document, operation, variables, deps.hints());
    return estimated > max ? { estimated, refusal: tooExpensive(estimated, max) } : { estimated };
  };
}

/** Variables longer than this as JSON are costed anew (a large input is rarely sent twice). */
const MEMO_MAX_KEY = 1_024;
/** Distinct variable sets remembered per operation (a storefront's pages and categories). */
const MEMO_MAX_PER_OPERATION = 256;

/**
 * operationCost is a pure function of the operation, its variables, the schema and the hints; the
 * same operation (Apollo Server hands every request with the same text the same parsed document)
 * with the same variables was walked again on every request. Kept per operation node, so nothing
 * outlives Apollo's document cache, and dropped when the schema or the hints change (a reload).
 */
function createCostMemo(options: CostOptions) {
  const memo = new WeakMap<OperationDefinitionNode, { schema: GraphQLSchema; hints: CostHints; costs: Map<string, number> }>();
  return (
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Record<string, unknown>,
    hints: CostHints,
  ) => {
    const key = JSON.stringify(variables);
    if (key.length > MEMO_MAX_KEY) return operationCost(schema, document, operation, variables, hints, options);
    let entry = memo.get(operation);
    if (entry?.schema !== schema || entry.hints !== hints) memo.set(operation, (entry = { schema, hints, costs: new Map() }));
    let cost = entry.costs.get(key);
    if (cost === undefined) {
      cost = operationCost(schema, document, operation, variables, hints, options);
      if (entry.costs.size >= MEMO_MAX_PER_OPERATION) entry.costs.clear();
      entry.costs.set(key, cost);
    }
    return cost;
  };
}

/**
 * Static cost at the gateway, once the operation is known and before anything is planned:
 *   - any operation above LIMIT_MAX_OPERATION_COST is refused outright (COST_ESTIMATED_TOO_EXPENSIVE, 400):
 *     armor's cost rule cannot see `first: $n`, this one applies the variables;
 *   - a partner's operations are charged to its key's budget per minute, one Redis counter shared
 *     by every gateway instance; over budget is 429 RATE_LIMITED with Retry-After (when the key's
 *     minute ends), and an operation larger than a whole minute's budget is COST_ESTIMATED_TOO_EXPENSIVE, since
 *     waiting would not help. The cost is charged when the operation starts, whatever its outcome;
 *     a refused operation is charged nothing.
 * Responses to callers with a budget (partners) report the cost and what is left in
 * `extensions.cost`; everyone else's responses carry no cost extension (it would only be noise in
 * every payload). Subscription events, which run without an HTTP request, never do.
 */
export function createCostBudget(deps: { config: GatewayConfig; redis: RedisGuard | null; hints: () => CostHints }) {
  const { config } = deps;
  const ceiling = createCostCeiling(deps);
  // A partner's own costBudgetPerMinute (client registry) else PARTNER_COST_BUDGET_PER_MINUTE: one limiter per distinct number.
  const budgetsOf = createLimiterSet(deps.redis, config.EVENT_NAMESPACE, {
    name: 'cost',
    durationSeconds: 60,
    lease: config.COST_BUDGET_LEASE,
  });

  /** Charges a partner's budget for one operation: what to report, or the refusal (a refused operation spends nothing). */
  const charge = async (client: ClientInfo, estimated: number): Promise<{ report: CostReport; refusal?: GraphQLError }> => {
    const partnerId = client.partnerId;
    if (!partnerId || estimated === 0) return { report: { estimated } };
    const perMinute = client.limits?.costBudgetPerMinute ?? config.PARTNER_COST_BUDGET_PER_MINUTE;
    // Waiting would not help: the same refusal as the ceiling's, not a 429.
    if (estimated > perMinute)
      return {
        report: { estimated },
        refusal: tooExpensive(estimated, perMinute, "this API key's budget per minute", { budgetPerMinute: perMinute }),
      };
    const budgets = budgetsOf(perMinute);
    const outcome = await budgets.consume(partnerId, estimated);
    if (!outcome.allowed) {
      await budgets.refund(partnerId, estimated);
      return {
        report: { estimated, budget: { perMinute, remaining: 0, resetSeconds: outcome.retryAfterSeconds } },
        refusal: budgetSpent(perMinute, outcome.retryAfterSeconds),
      };
    }
    return { report: { estimated, budget: { perMinute, remaining: outcome.remaining, resetSeconds: outcome.resetSeconds } } };
  };

  const plugin: ApolloServerPlugin<GatewayContext> = {
    async requestDidStart() {
      let report: CostReport | undefined;
      return {
        async didResolveOperation({ schema, document, operation, request, contextValue }) {
          if (!operation) return;
          const { estimated, refusal } = ceiling(schema, document, operation, request.variables ?? {});
          report = { estimated };
          if (refusal) throw refusal;
          if (contextValue.facts) contextValue.facts.cost = estimated;
          const charged = await charge(contextValue.client, estimated);
          report = charged.report;
          if (charged.refusal) throw charged.refusal;
        },
        async willSendResponse({ request, response }) {
          if (!report?.budget || !request.http || response.body.kind !== 'single') return;
          const result = response.body.singleResult;
          result.extensions = { ...result.extensions, cost: report };
        },
      };
    },
  };
  return { plugin, charge };
}

export type CostBudget = ReturnType<typeof createCostBudget>;
