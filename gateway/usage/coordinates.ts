import { LRUCache } from 'lru-cache';
import { Kind, TypeInfo, getNamedType, isEnumType, isInputObjectType, visit, visitWithTypeInfo } from 'graphql';
import type { DocumentNode, GraphQLSchema } from 'graphql';

/**
 * Schema coordinates an operation uses, in the RFC's spelling: `Type`, `Type.field`,
 * `Type.field(arg:)`, `Enum.VALUE`, `Input.field`. What the schema check compares a breaking change
 * against, so both sides must spell a coordinate alike (see coordinatesOfChange in
 * scripts/schema-checks/usage-breaks.ts).
 *
 * Enum values are those written in the document (literals); values sent in variables or returned
 * in answers are not seen here (the gateway does not read answers for usage: it would cost every
 * response a walk).
 */
export function operationCoordinates(schema: GraphQLSchema, document: DocumentNode): string[] {
  const used = new Set<string>();
  const typeInfo = new TypeInfo(schema);
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      OperationDefinition() {
        const root = typeInfo.getType();
        if (root) used.add(getNamedType(root).name);
      },
      Field(node) {
        const parent = typeInfo.getParentType();
        const field = typeInfo.getFieldDef();
        if (!parent || !field || node.name.value.startsWith('__')) return;
        used.add(parent.name);
        used.add(`${parent.name}.${field.name}`);
        used.add(getNamedType(field.type).name);
      },
      Argument(node) {
        const parent = typeInfo.getParentType();
        const field = typeInfo.getFieldDef();
        if (parent && field && typeInfo.getArgument()) used.add(`${parent.name}.${field.name}(${node.name.value}:)`);
      },
      ObjectField(node) {
        // An input object's field, written inline: `Input.field`.
        const input = typeInfo.getParentInputType();
        const named = input && getNamedType(input);
        if (named && isInputObjectType(named)) used.add(`${named.name}.${node.name.value}`);
      },
      EnumValue(node) {
        const type = typeInfo.getInputType();
        const named = type && getNamedType(type);
        if (named && isEnumType(named)) used.add(`${named.name}.${node.value}`);
      },
      FragmentDefinition(node) {
        used.add(node.typeCondition.name.value);
      },
      InlineFragment(node) {
        if (node.typeCondition) used.add(node.typeCondition.name.value);
      },
      VariableDefinition(node) {
        let type = node.type;
        while (type.kind !== Kind.NAMED_TYPE) type = type.type;
        used.add(type.name.value);
      },
    }),
  );
  return [...used].sort();
}

/** Distinct documents a gateway remembers the coordinates of (persisted and APQ traffic repeats a few hundred). */
const DOCUMENTS_CACHED = 2_000;

/**
 * Coordinates per distinct document text, computed once: the walk costs tens of microseconds, a
 * map hit well under one. Keyed per schema too (a WeakMap), so a reloaded supergraph recomputes.
 */
export function createCoordinateCache(max = DOCUMENTS_CACHED) {
  const bySchema = new WeakMap<GraphQLSchema, LRUCache<string, string[]>>();
  return (schema: GraphQLSchema, source: string, document: DocumentNode): string[] => {
    let cache = bySchema.get(schema);
    if (!cache) bySchema.set(schema, (cache = new LRUCache({ max })));
    let coordinates = cache.get(source);
    if (!coordinates) cache.set(source, (coordinates = operationCoordinates(schema, document)));
    return coordinates;
  };
}
