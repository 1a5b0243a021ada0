import { createHash } from 'node:crypto';
import type { ApolloServerPlugin, GraphQLRequest } from '@apollo/server';
import { OperationTypeNode } from 'graphql';
import type { FormattedExecutionResult } from 'graphql';
import { CACHE_TAGS_HEADER, UNTAGGABLE } from '../../platform/cache-tags.js';
import type { GatewayContext } from '../request.js';
import { acceptedMultipartSpec } from '../http/multipart.js';
import { mentionsDefer } from '../incremental/defer-document.js';
import { sharedMaxAgeMs } from './cached-fetcher.js';
import type { FetchCacheCounters } from './cached-fetcher.js';
import type { FetchMark, TaggedStore } from './tagged-store.js';

export type { ResponseScope } from '../request.js';

/** Called by each subgraph data source with its answer's headers (gateway/subgraph-source.ts). */
export function noteSubgraphAnswer(context: object, headers: { get(name: string): string | null } | undefined): void {
  const scope = (context as Partial<GatewayContext>).responseCache;
  if (!scope) return;
  scope.fetches++;
  const maxAgeMs = sharedMaxAgeMs(headers?.get('cache-control') ?? null);
  const tags = headers?.get(CACHE_TAGS_HEADER) ?? '';
  if (!maxAgeMs || tags === UNTAGGABLE) scope.cacheable = false;
  scope.maxAgeMs = Math.min(scope.maxAgeMs, maxAgeMs);
  if (tags) for (const tag of tags.split(' ')) scope.tags.add(tag);
}

/**
 * Only callers whose answer cannot depend on who they are: anonymous (no token at all) or a
 * partner's API key (also anonymous to every authorization rule), not reading their own writes
 * (a valid consistency token), not asking for the query plan.
 */
function eligible(request: GraphQLRequest, context: GatewayContext): boolean {
  const headers = request.http?.headers;
  if (!headers || context.identity.userId !== null || headers.has('authorization')) return false;
  // A valid (signed, unexpired) token only: a forged or malformed one is ignored, not obeyed.
  if (context.consistency?.readsOwnWrites) return false;
  return !headers.has('apollo-query-plan-experimental');
}

/**
 * The response cache: whole answers of public operations, shared by every gateway through the
 * tagged store. Key: the operation's hash, its name and its variables (nothing else varies an
 * anonymous answer). Stored only when every subgraph fetch behind it was `public` with a max-age,
 * for the shortest of them, tagged with every entity they held, so the same events that keep the
 * entity cache exact drop it. Runs after every plugin's didResolveOperation (limits, safelist,
 * cost), so a cached answer is never a way around them.
 */
export function createResponseCachePlugin(
  store: TaggedStore,
  counters: FetchCacheCounters,
  maxTtlMs: number,
): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ request, contextValue }) {
      if (!eligible(request, contextValue)) return;
      let key: string | undefined;
      let mark: FetchMark | undefined;
      return {
        async responseForOperation(rc) {
          if (rc.operation.operation !== OperationTypeNode.QUERY || !store.usable()) return null;
          // An entry is one JSON answer. A client that takes @defer as multipart gets another form (and
          // what reaches willSendResponse then is only the first payload): neither served nor stored.
          if (acceptedMultipartSpec(rc.request.http?.headers.get('accept')) === 'deferSpec=20220824' && mentionsDefer(rc.document))
            return null;
          const variables = JSON.stringify(rc.request.variables ?? {});
          key =
            'r:' +
            createHash('sha256')
              .update(rc.queryHash ?? '')
              .update('\n')
              .update(rc.operationName ?? '')
              .update('\n')
              .update(variables)
              .digest('base64url');
          const hit = await store.get(key);
          if (hit) {
            counters.hit('response');
            key = undefined;
            // Restrict, not replace: the edge's own rules (POST, partners) stay in force for the header.
            rc.overallCachePolicy.restrict({ maxAge: Math.floor(hit.ttlMs / 1000), scope: 'PUBLIC' });
            return { http: rc.response.http, body: { kind: 'single', singleResult: JSON.parse(hit.body) as FormattedExecutionResult } };
          }
          counters.miss('response');
          mark = store.begin();
          contextValue.responseCache = { fetches: 0, cacheable: true, maxAgeMs: maxTtlMs, tags: new Set() };
          return null;
        },
        async willSendResponse({ response }) {
          const scope = contextValue.responseCache;
          if (!key || !mark || !scope?.cacheable || !scope.fetches || response.body.kind !== 'single') return;
          const { data, errors, extensions } = response.body.singleResult;
          // An answer the gateway had to repair (extensions.valueCompletion: a subgraph broke the schema) is not kept.
          if (errors?.length || !data || extensions?.valueCompletion) return;
          void store.put(key, JSON.stringify({ data }), [...scope.tags], scope.maxAgeMs, mark);
        },
      };
    },
  };
}
