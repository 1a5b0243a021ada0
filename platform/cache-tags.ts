import type { ApolloServerPlugin } from '@apollo/server';
import { OperationTypeNode, getNamedType, getNullableType, isLeafType, isListType, isObjectType } from 'graphql';
import type { GraphQLResolveInfo } from 'graphql';

/**
 * On a subgraph's response to a query: the entities it holds, as `<__typename>:<id>` separated by
 * spaces, so the gateway's cache can drop the answer when an event changes one of them
 * (platform/events/types.ts EVENT_INVALIDATES names the same tags). `*` means "too many, not all
 * nameable, or changing without an event": the gateway then does not cache the answer as a whole.
 */
export const CACHE_TAGS_HEADER = 'x-cache-tags';
/**
 * On an `_entities` answer: the same tags grouped per representation, in order (groups separated
 * by `,`), so the gateway can keep each entity on its own; a `*` group is an entity not to keep.
 */
export const CACHE_ENTITY_TAGS_HEADER = 'x-cache-entity-tags';
export const UNTAGGABLE = '*';
/** Beyond this many entities the header is not worth its bytes: the answer is left uncached. */
const MAX_TAGS = 200;

/**
 * The tag of every list of `type` chosen by arguments (a filter, an order, a page): which entities
 * such a list holds, and in what order, depends on their fields, so an event that changes one of
 * them declares this tag too (EVENT_INVALIDATES), or a product moving into a cached page by its new
 * price would be missed by a list tagged only with the entities it held. `[]` cannot occur in an id.
 */
export const listTag = (type: string) => `${type}[]`;
/** The tag of the lists of `type` that its resolver said only `event` (among others) can change (`listChangedOnlyBy`). */
export const listTagFor = (type: string, event: string) => `${type}[]@${event}`;
/** What an event about `type` declares for its lists: every list of the type, and those that said this event changes them. */
export const listTagsOf = (type: string, event: string) => [listTag(type), listTagFor(type, event)];

interface TagState {
  all: Set<string>;
  /** Per list field (its path): the only events its resolver said can change it (`listChangedOnlyBy`). */
  changedOnlyBy: Map<GraphQLResolveInfo['path'], string[]>;
  /** Per `_entities` index: its tags, or null once it cannot be kept (untaggable or volatile). */
  entities: (Set<string> | null)[];
  untaggable: boolean;
}

const states = new WeakMap<object, TagState>();

/** The `_entities` index a field sits under (`_entities.3.name` -> 3), else undefined. */
function entityIndex(path: GraphQLResolveInfo['path']): number | undefined {
  let p = path;
  while (p.prev?.prev) p = p.prev;
  return p.prev?.key === '_entities' && typeof p.key === 'number' ? p.key : undefined;
}

/**
 * A resolver's word that what it resolved may change without an event (billing: a payment attempt
 * on an open invoice), so the gateway must not keep it: its entity, or the whole answer elsewhere.
 */
export function markVolatile(context: object, info: Pick<GraphQLResolveInfo, 'path'>): void {
  const state = states.get(context);
  if (!state) return;
  const at = entityIndex(info.path);
  if (at === undefined) state.untaggable = true;
  else state.entities[at] = null;
}

/**
 * A list resolver's word that only these events can change which entities its list holds, or in
 * what order (catalog's category page in creation order: ProductChanged, not StockChanged), so a
 * cached answer holding the list survives the others. Without it every event about the list's type
 * drops every list of it (listTag). Each entity in the list still carries its own tag.
 */
export function listChangedOnlyBy(context: object, info: Pick<GraphQLResolveInfo, 'path'>, events: string[]): void {
  states.get(context)?.changedOnlyBy.set(info.path, events);
}

function record(state: TagState, tag: string | null, at: number | undefined) {
  if (tag === null) {
    if (at === undefined) state.untaggable = true;
    else state.entities[at] = null;
    return;
  }
  state.all.add(tag);
  if (at === undefined) return;
  const group = state.entities[at];
  if (group === null) return;
  (state.entities[at] = group ?? new Set()).add(tag);
}

/** The tag of one resolved object (`id` and type), null when it has an id but no nameable type. */
function tagOf(value: object, typeName: string | undefined): string | null | undefined {
  const { id, __typename } = value as { id?: unknown; __typename?: unknown };
  if (typeof id !== 'string' && typeof id !== 'number') return undefined;
  const type = typeof __typename === 'string' ? __typename : typeName;
  return type ? `${type}:${String(id)}` : null;
}

/**
 * The entity type of a list a field picks by its arguments, if it does: it takes arguments and
 * returns a list of objects with an `id`, or a Relay connection of them (a type with an `edges`
 * list whose items have a `node`), the same reading as the gateway's static cost.
 */
function listedType(info: GraphQLResolveInfo): string | undefined {
  if (!info.parentType.getFields()[info.fieldName]?.args.length) return undefined;
  const type = getNullableType(info.returnType);
  let item = isListType(type) ? getNamedType(type) : undefined;
  const edges = isObjectType(type) ? type.getFields().edges : undefined;
  if (edges && isListType(getNullableType(edges.type))) {
    const edge = getNamedType(edges.type);
    item = isObjectType(edge) ? edge.getFields().node && getNamedType(edge.getFields().node!.type) : undefined;
  }
  return isObjectType(item) && item.getFields().id ? item.name : undefined;
}

function collect(state: TagState, value: unknown, typeName: string | undefined, at: number | undefined, root: boolean) {
  if (Array.isArray(value)) {
    // The root `_entities` list: element i is representation i's entity (none found: not kept, it may appear).
    if (root) value.forEach((v: unknown, i) => (v ? collect(state, v, typeName, i, false) : (state.entities[i] = null)));
    else for (const v of value) collect(state, v, typeName, at, false);
    return;
  }
  if (!value || typeof value !== 'object') return;
  const tag = tagOf(value, typeName);
  if (tag !== undefined) record(state, tag, at);
}

function headersOf(state: TagState): { all: string; entities?: string } {
  if (state.untaggable || state.all.size > MAX_TAGS) return { all: UNTAGGABLE };
  const all = [...state.all].join(' ');
  if (!state.entities.length) return { all };
  const groups = Array.from(state.entities, (g) => (g?.size ? [...g].join(' ') : UNTAGGABLE));
  // A volatile entity: the whole answer is not kept, its other entities are.
  return { all: groups.includes(UNTAGGABLE) ? UNTAGGABLE : all, entities: groups.join(',') };
}

/**
 * Collects the tag of every object a field resolved to (its `id` and its type: `__typename` for
 * `_entities`, where @apollo/subgraph sets it, else the field's object type), per `_entities`
 * representation too, and the list tag of every list chosen by arguments (listTag).
 * Objects without an `id` (connections, money) are not entities and carry no tag; their freshness
 * is the max-age's.
 */
export function cacheTagsPlugin<C extends object>(): ApolloServerPlugin<C> {
  return {
    async requestDidStart({ contextValue }) {
      const state: TagState = { all: new Set(), changedOnlyBy: new Map(), entities: [], untaggable: false };
      states.set(contextValue, state);
      return {
        async executionDidStart() {
          return {
            willResolveField({ info }) {
              const named = getNamedType(info.returnType);
              if (isLeafType(named)) return;
              const typeName = isObjectType(named) ? named.name : undefined;
              const root = !info.path.prev && info.fieldName === '_entities';
              const at = root ? undefined : entityIndex(info.path);
              // A list picked by arguments is tagged as such, empty or not: what may move into it is unknown
              // (once its resolver ran: it may have said which events can change it).
              const listed = root ? undefined : listedType(info);
              return (error, result) => {
                if (listed) {
                  const only = state.changedOnlyBy.get(info.path);
                  for (const tag of only ? only.map((e) => listTagFor(listed, e)) : [listTag(listed)]) record(state, tag, at);
                }
                if (!error) collect(state, result, typeName, at, root);
              };
            },
          };
        },
        async willSendResponse({ operation, response }) {
          if (operation?.operation !== OperationTypeNode.QUERY || (!state.all.size && !state.untaggable && !state.entities.length)) return;
          const { all, entities } = headersOf(state);
          response.http.headers.set(CACHE_TAGS_HEADER, all);
          if (entities !== undefined && all.length + entities.length < 12_000)
            response.http.headers.set(CACHE_ENTITY_TAGS_HEADER, entities);
        },
      };
    },
  };
}
