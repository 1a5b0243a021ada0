import { createHash } from 'node:crypto';
import { getOperationAST, print } from 'graphql';
import type { GraphQLSchema } from 'graphql';
import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import type { GatewayContext } from '../context.js';
import { authorizeOperation } from './authorize-operation.js';
import type { AuthorizedOperation, ResponsePath } from './authorize-operation.js';
import type { Policy } from './policies.js';
import { wrapExecutor } from '../wrapped-executor.js';

const MAX_CACHED = 5_000;

type Verdict = AuthorizedOperation & { queryHash: string };

/**
 * @apollo/gateway behind an authorization step: every operation is checked against the
 * supergraph's @authenticated / @requiresScopes policies for the caller before a query plan is
 * made or any subgraph is called. The filtered operation gets its own query hash, so the plan
 * cache never serves one caller's plan to another.
 *
 * `policiesFor` gives the policies of the supergraph a request's schema came from: across a
 * reload, a request is authorized by the rules of the schema it was validated against.
 */
export function createAuthorizingGateway(
  inner: GatewayInterface,
  policiesFor: (schema: GraphQLSchema) => Map<string, Policy>,
): GatewayInterface {
  // Per policies (one per loaded supergraph), per (operation, kind of caller): the same query from the same kind of caller is authorized once.
  const caches = new WeakMap<Map<string, Policy>, Map<string, Verdict>>();
  const cacheOf = (policies: Map<string, Policy>) => {
    let cache = caches.get(policies);
    if (!cache) caches.set(policies, (cache = new Map<string, Verdict>()));
    return cache;
  };

  const wrap =
    (execute: GatewayExecutor): GatewayExecutor =>
    async (requestContext) => {
      const { identity } = requestContext.context as GatewayContext;
      const caller = { authenticated: identity.userId !== null, scopes: new Set(identity.scopes) };
      const cacheKey = `${requestContext.queryHash}|${requestContext.operationName ?? ''}|${caller.authenticated}|${[...caller.scopes].sort().join(' ')}`;
      const policies = policiesFor(requestContext.schema);
      const cache = cacheOf(policies);
      let verdict = cache.get(cacheKey);
      if (!verdict) {
        const result = authorizeOperation(requestContext.schema, requestContext.document, requestContext.operationName, policies, caller);
        const queryHash =
          result.document && result.errors.length
            ? createHash('sha256').update(print(result.document)).digest('hex')
            : requestContext.queryHash;
        verdict = { ...result, queryHash };
        if (cache.size >= MAX_CACHED) cache.clear();
        cache.set(cacheKey, verdict);
      }
      if (verdict.errors.length === 0) return execute(requestContext);
      if (!verdict.document) {
        const data = verdict.nullPaths.length ? withNulls({}, verdict.nullPaths) : null;
        return { data, errors: verdict.errors };
      }
      const result = await execute({
        ...requestContext,
        document: verdict.document,
        operation: getOperationAST(verdict.document, requestContext.operationName)!,
        queryHash: verdict.queryHash,
      });
      return {
        ...result,
        data: result.data ? withNulls(result.data, verdict.nullPaths) : result.data,
        errors: [...verdict.errors, ...(result.errors ?? [])],
      };
    };

  return wrapExecutor(inner, wrap);
}

/** Puts null at each path (through every element of the lists on the way). */
function withNulls(data: Record<string, unknown>, paths: ResponsePath[]): Record<string, unknown> {
  const set = (node: unknown, path: string[]): void => {
    if (Array.isArray(node)) {
      for (const item of node) set(item, path);
      return;
    }
    if (!node || typeof node !== 'object') return;
    const [head, ...rest] = path;
    if (rest.length === 0) (node as Record<string, unknown>)[head!] = null;
    else set((node as Record<string, unknown>)[head!], rest);
  };
  for (const path of paths) set(data, path);
  return data;
}
