import { buildOperationContext, executeQueryPlan } from '@apollo/gateway';
import type { ServiceMap } from '@apollo/gateway';
import type { GatewayExecutor, GatewayGraphQLRequestContext, GatewayInterface } from '@apollo/server-gateway-interface';
import { mentionsDefer, undeferred } from './incremental/defer-document.js';
import type { LoadedSupergraph } from './supergraph-load.js';
import type { SupergraphState } from './supergraph-reload.js';
import { wrapExecutor } from './wrapped-executor.js';

/**
 * Requests in flight finish on the schema they started with. Apollo Server validates a request
 * against the schema current when it arrived, but @apollo/gateway's executor plans against the
 * schema current when it runs: across a swap, an operation using a field the new supergraph
 * removed would fail after it was accepted. A request whose schema is no longer current is
 * therefore planned with its own supergraph's planner and run with the stock executeQueryPlan over
 * the same data sources. It is rare (only requests straddling a swap), so the old planner is built
 * only when one needs it, and dropped with its schema when nothing refers to it any more.
 *
 * Such a request's @defer fragments come in its one response (the incremental delivery RFC allows that).
 */
export function createPinnedGateway(
  inner: GatewayInterface,
  deps: { state: SupergraphState; dataSources: () => ServiceMap },
): GatewayInterface {
  const wrap =
    (execute: GatewayExecutor): GatewayExecutor =>
    async (requestContext) => {
      const started = deps.state.forSchema(requestContext.schema);
      if (!started || started === deps.state.current()) return execute(requestContext);
      return executeOn(started, requestContext, deps.dataSources());
    };
  return wrapExecutor(inner, wrap);
}

async function executeOn(loaded: LoadedSupergraph, requestContext: GatewayGraphQLRequestContext, serviceMap: ServiceMap) {
  const planning = loaded.planning();
  const document = mentionsDefer(requestContext.document) ? undeferred(requestContext.document) : requestContext.document;
  const operationName = requestContext.operationName ?? requestContext.request.operationName ?? null;
  const plan = planning.planOperation(document, operationName);
  const operationContext = buildOperationContext({
    schema: requestContext.schema,
    operationDocument: document,
    ...(operationName ? { operationName } : {}),
  });
  return executeQueryPlan(plan, serviceMap, requestContext, operationContext, planning.supergraphSchema, planning.apiSchema);
}
