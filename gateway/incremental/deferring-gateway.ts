import { createHash } from 'node:crypto';
import { GraphQLSchema, getOperationAST, getVariableValues, print } from 'graphql';
import type { ApolloServerPlugin } from '@apollo/server';
import type { ServiceMap } from '@apollo/gateway';
import type { GatewayExecutor, GatewayGraphQLRequestContext, GatewayInterface } from '@apollo/server-gateway-interface';
import { acceptedMultipartSpec } from '../http/multipart.js';
import { GraphQLDeferDirective, mentionsDefer, prepareDeferredOperation, undeferred } from './defer-document.js';
import type { DeferredOperation } from './defer-document.js';
import { createDeferExecution } from './defer-execution.js';
import type { FormatError, SubsequentPayload } from './defer-execution.js';
import type { DeferPlanning } from './defer-plan.js';

/** The API schema with @defer declared, built once per schema the gateway loads. */
function createDeferSchemas(): (schema: GraphQLSchema) => GraphQLSchema {
  const withDefer = new WeakMap<GraphQLSchema, GraphQLSchema>();
  return (schema) => {
    let extended = withDefer.get(schema);
    if (!extended) {
      const config = schema.toConfig();
      extended = new GraphQLSchema({ ...config, directives: [...config.directives, GraphQLDeferDirective] });
      withDefer.set(schema, extended);
    }
    return extended;
  };
}

/**
 * `@defer` through the federated gateway. The stock @apollo/gateway plans @defer but refuses to
 * execute it, and Apollo Server takes only a single result from a gateway. So an operation with
 * @defer is planned here (the JS query planner, incrementalDelivery on) and run part by part with
 * the stock executeQueryPlan (see defer-execution.ts): the executor hands Apollo the initial
 * payload as an ordinary result, and the plugin turns the response into Apollo Server's own
 * incremental body (multipart/mixed; deferSpec=20220824) carrying the deferred parts as they
 * complete. Everything the request pipeline does (persisted queries, limits, cost, authorization,
 * the consistency token) has already run on the whole operation by then.
 *
 * A client that does not accept deferSpec=20220824, and an operation whose every @defer is off
 * (`if: false`), get one ordinary response from the stock executor.
 *
 * `planning`: the loaded supergraph's planning (gateway/supergraph-load.ts), which follows reloads.
 */
export function createDeferringGateway(
  inner: GatewayInterface,
  options: { dataSources: () => ServiceMap; formatError: FormatError; planning: () => DeferPlanning },
) {
  const deferSchema = createDeferSchemas();
  let schema: GraphQLSchema | undefined;
  inner.onSchemaLoadOrUpdate(({ apiSchema }) => {
    schema = deferSchema(apiSchema);
  });
  const executeDeferred = createDeferExecution({
    planning: options.planning,
    schema: () => schema!,
    dataSources: options.dataSources,
    formatError: options.formatError,
  });
  // Deferred payloads of a request, from its executor to its response (keyed by the request's context object).
  const pendingPayloads = new WeakMap<object, AsyncIterable<SubsequentPayload>>();

  const wrap =
    (execute: GatewayExecutor): GatewayExecutor =>
    async (requestContext) => {
      if (!mentionsDefer(requestContext.document)) return execute(requestContext);
      const prepared = prepare(requestContext, schema!);
      if (!prepared) return execute(requestContext);
      const accepted = acceptedMultipartSpec(requestContext.request.http?.headers.get('accept') ?? undefined) === 'deferSpec=20220824';
      if (!accepted || prepared.fragments.size === 0) return execute(withDocument(requestContext, undeferred(prepared.document)));
      const { initial, subsequent } = await executeDeferred(requestContext, prepared);
      if (subsequent) pendingPayloads.set(requestContext.context, subsequent);
      return initial;
    };

  const gateway: GatewayInterface = {
    async load(loadOptions) {
      const loaded = await inner.load(loadOptions);
      return { ...loaded, executor: loaded.executor && wrap(loaded.executor) };
    },
    onSchemaLoadOrUpdate: (callback) =>
      inner.onSchemaLoadOrUpdate(({ apiSchema, coreSupergraphSdl }) => callback({ apiSchema: deferSchema(apiSchema), coreSupergraphSdl })),
    stop: () => inner.stop(),
  };

  const plugin = createDeferPlugin(pendingPayloads);
  return { gateway, plugin };
}

/**
 * Turns a response whose executor left deferred payloads into Apollo Server's incremental body, and
 * a single result for a client that takes only multipart into one multipart part.
 */
function createDeferPlugin(pendingPayloads: WeakMap<object, AsyncIterable<SubsequentPayload>>): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ contextValue, request, response }) {
          const subsequentResults = pendingPayloads.get(contextValue);
          if (response.body.kind !== 'single') return;
          if (!subsequentResults) {
            // One result (a refusal, a fragment authorization removed) for a client that takes only
            // multipart: Apollo would answer 406. Sent as one multipart part instead, as Apollo Router
            // does, its status and codes kept.
            if (takesOnlyDeferMultipart(request.http?.headers.get('accept')))
              response.body = {
                kind: 'incremental',
                initialResult: { ...response.body.singleResult, hasNext: false },
                subsequentResults: none(),
              };
            return;
          }
          pendingPayloads.delete(contextValue);
          response.body = { kind: 'incremental', initialResult: { ...response.body.singleResult, hasNext: true }, subsequentResults };
          // Proxies (nginx) must pass each part on as it comes.
          response.http.headers.set('x-accel-buffering', 'no');
        },
      };
    },
  };
}

/** Nothing follows the one part. */
const none = (): AsyncIterable<SubsequentPayload> => ({
  [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ done: true, value: undefined }) }),
});

/** Media ranges under which Apollo Server sends a single JSON result. */
const JSON_RANGES = new Set(['application/json', 'application/graphql-response+json', 'application/*', '*/*']);

/** The Accept header asks for @defer's multipart form and for no JSON form (q=0 is a refusal). */
function takesOnlyDeferMultipart(accept: string | undefined): boolean {
  if (acceptedMultipartSpec(accept) !== 'deferSpec=20220824') return false;
  return !accept!.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    return JSON_RANGES.has(type!) && (q === undefined || Number(q.slice(2)) > 0);
  });
}

function prepare(requestContext: GatewayGraphQLRequestContext, schema: GraphQLSchema): DeferredOperation | undefined {
  const operation = getOperationAST(requestContext.document, requestContext.operationName);
  if (!operation) return undefined;
  // Apollo already validated the variables; coercion here only applies defaults for `if: $var`.
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], requestContext.request.variables ?? {});
  return prepareDeferredOperation(requestContext.document, requestContext.operationName, coerced.coerced ?? {});
}

/** The same request with another document (its own query hash: the stock plan cache is keyed by it). */
function withDocument(requestContext: GatewayGraphQLRequestContext, document: ReturnType<typeof undeferred>): GatewayGraphQLRequestContext {
  return {
    ...requestContext,
    document,
    operation: getOperationAST(document, null)!,
    queryHash: createHash('sha256').update(print(document)).digest('hex'),
  };
}
