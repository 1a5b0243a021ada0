import type { ApolloServerPlugin } from '@apollo/server';
import { OperationTypeNode, getNamedType, isLeafType, isObjectType } from 'graphql';

/**
 * On a subgraph's response to a query: the entities it holds, as `<__typename>:<id>` separated by
 * spaces, so the gateway's cache can drop the answer when an event changes one of them
 * (platform/events/types.ts EVENT_INVALIDATES names the same tags). `*` means "too many or not
 * all nameable": the gateway then does not cache the answer at all.
 */
export const CACHE_TAGS_HEADER = 'x-cache-tags';
export const UNTAGGABLE = '*';
/** Beyond this many entities the header is not worth its bytes: the answer is left uncached. */
const MAX_TAGS = 200;

/**
 * Collects the tag of every object a field resolved to (its `id` and its type: `__typename` for
 * `_entities`, where @apollo/subgraph sets it, else the field's object type). Objects without an
 * `id` (connections, money) are not entities and carry no tag; their freshness is the max-age's.
 */
export function cacheTagsPlugin<C extends object>(): ApolloServerPlugin<C> {
  return {
    async requestDidStart() {
      const tags = new Set<string>();
      let untaggable = false;
      const collect = (value: unknown, typeName: string | undefined) => {
        if (Array.isArray(value)) {
          for (const v of value) collect(v, typeName);
          return;
        }
        if (!value || typeof value !== 'object') return;
        const { id, __typename } = value as { id?: unknown; __typename?: unknown };
        if (typeof id !== 'string' && typeof id !== 'number') return;
        const type = typeof __typename === 'string' ? __typename : typeName;
        if (!type) untaggable = true;
        else tags.add(`${type}:${String(id)}`);
      };
      return {
        async executionDidStart() {
          return {
            willResolveField({ info }) {
              const named = getNamedType(info.returnType);
              if (isLeafType(named)) return;
              const typeName = isObjectType(named) ? named.name : undefined;
              return (error, result) => {
                if (!error) collect(result, typeName);
              };
            },
          };
        },
        async willSendResponse({ operation, response }) {
          if (operation?.operation !== OperationTypeNode.QUERY || (!tags.size && !untaggable)) return;
          response.http.headers.set(CACHE_TAGS_HEADER, untaggable || tags.size > MAX_TAGS ? UNTAGGABLE : [...tags].join(' '));
        },
      };
    },
  };
}
