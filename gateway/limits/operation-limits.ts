import { ApolloArmor } from '@escape.tech/graphql-armor';
import { HeaderMap } from '@apollo/server';
import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { ParseOptions, ValidationContext, ValidationRule } from 'graphql';
import type { GatewayConfig } from '../../platform/config.js';
import { ErrorCode, appError } from '../../platform/errors.js';
import type { GatewayContext } from '../request.js';

/**
 * The one refusal for an operation that costs too much, whichever limit found it (armor's cost of
 * the text here, the static cost ceiling and a partner's whole-minute budget in cost-budget.ts):
 * 400 COST_ESTIMATED_TOO_EXPENSIVE (Apollo Router's demand-control code) with the figures.
 */
export function tooExpensive(cost: number, maxCost: number, what = 'the limit', extensions: Record<string, unknown> = {}): GraphQLError {
  const err = appError(
    ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE,
    `The operation's estimated cost ${cost} is over ${what} of ${maxCost}; ask for smaller pages.`,
    {
      cost,
      maxCost,
      ...extensions,
    },
  );
  (err.extensions as Record<string, unknown>).http = { status: 400, headers: new HeaderMap([['cache-control', 'no-store']]) };
  return err;
}

/**
 * Armor reports its cost refusal as "Syntax Error: Query Cost limit of N exceeded, found C." from
 * a validation rule. Reported instead as tooExpensive; Apollo Server then recodes every validation
 * error GRAPHQL_VALIDATION_FAILED, which recodeTooExpensive (below) undoes for this one.
 */
function reportTooExpensive(maxCost: number) {
  return (context: ValidationContext | null, armorError: GraphQLError) => {
    const found = /found (\d+(?:\.\d+)?)/.exec(armorError.message)?.[1];
    context?.reportError(tooExpensive(Math.ceil(Number(found ?? maxCost + 1)), maxCost));
  };
}

/** Apollo's ValidationError keeps the reported error as originalError: give the response its code back. */
const recodeTooExpensive: ApolloServerPlugin<GatewayContext> = {
  async requestDidStart() {
    return {
      async didEncounterErrors({ errors }) {
        for (const error of errors) {
          const original = error.originalError;
          if (original instanceof GraphQLError && original.extensions.code === ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE)
            (error.extensions as Record<string, unknown>).code = ErrorCode.COST_ESTIMATED_TOO_EXPENSIVE;
        }
      },
    };
  },
};

export interface OperationLimits {
  /** Armor's depth, alias, directive and cost rules, for ApolloServer's `validationRules` (and subscriptions). */
  validationRules: ValidationRule[];
  /** For ApolloServer's `parseOptions`: the token limit, enforced while parsing. */
  parseOptions: ParseOptions;
  /** In production, armor's masking of field suggestions. */
  plugins: ApolloServerPlugin<GatewayContext>[];
}

/**
 * The shape of an operation, checked by graphql-armor before anything is planned or fetched:
 * depth, aliases, directives, tokens and armor's structural cost (refused as tooExpensive). Defaults (platform/config.ts)
 * leave room above the contract's real queries: AccountPage is 8 deep, alias-free, 68 tokens,
 * and a subscription's event query is its selection under one aliased entity field. A refusal is
 * `GRAPHQL_VALIDATION_FAILED` (HTTP 400; Apollo recodes armor's validation errors) naming the
 * limit, or `GRAPHQL_PARSE_FAILED` (400) for the token limit. The same rules check subscription
 * documents when they are subscribed (gateway/subscriptions/ws-server.ts).
 *
 * Tokens: armor's Apollo plugin for them throws from `parsingDidStart`, which Apollo Server treats
 * as an unexpected failure (HTTP 500 and an error log per refusal). graphql-js's parser has the
 * same limit built in (`maxTokens`, aborting as soon as it is crossed, as armor's lexer does), and
 * Apollo reports that as the parse error it is.
 *
 * Armor's cost counts only literal `first:` values; operation-cost.ts (with variables and
 * @listSize) is the one budgets and the per-operation cost ceiling use.
 */
export function createOperationLimits(config: GatewayConfig): OperationLimits {
  const production = config.NODE_ENV === 'production';
  const armor = new ApolloArmor({
    maxDepth: { n: config.LIMIT_MAX_DEPTH, ignoreIntrospection: true },
    maxAliases: { n: config.LIMIT_MAX_ALIASES },
    maxDirectives: { n: config.LIMIT_MAX_DIRECTIVES },
    costLimit: {
      maxCost: config.LIMIT_MAX_ARMOR_COST,
      propagateOnRejection: false,
      onReject: [reportTooExpensive(config.LIMIT_MAX_ARMOR_COST)],
    },
    maxTokens: { enabled: false }, // parseOptions below
    // "Did you mean …?" maps the schema for whoever probes it: hidden in production, like introspection.
    blockFieldSuggestion: { enabled: production },
  }).protect();
  return {
    validationRules: armor.validationRules,
    parseOptions: { maxLexicalTokens: config.LIMIT_MAX_TOKENS },
    plugins: [recodeTooExpensive, ...(armor.plugins as ApolloServerPlugin<GatewayContext>[])],
  };
}
