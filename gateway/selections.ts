import { Kind, isCompositeType } from 'graphql';
import type {
  DocumentNode,
  FieldNode,
  FragmentDefinitionNode,
  FragmentSpreadNode,
  GraphQLCompositeType,
  GraphQLSchema,
  InlineFragmentNode,
  SelectionSetNode,
} from 'graphql';

/**
 * The one walk over an operation's selections through fragments, shared by everything at the edge
 * that reads an operation before it runs (authorization, operation cost, login protection). It
 * knows GraphQL only: no type or field of any particular schema.
 */

export type Fragments = ReadonlyMap<string, FragmentDefinitionNode>;

export function fragmentsOf(document: DocumentNode): Fragments {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  return fragments;
}

/** What a fragment (inline or spread) selects, and on which type; undefined when it names nothing the schema has. */
export function fragmentTarget(
  schema: GraphQLSchema,
  fragments: Fragments,
  selection: InlineFragmentNode | FragmentSpreadNode,
  parentType: GraphQLCompositeType,
): { selectionSet: SelectionSetNode; type: GraphQLCompositeType; spread?: string } | undefined {
  const fragment = selection.kind === Kind.FRAGMENT_SPREAD ? fragments.get(selection.name.value) : selection;
  if (!fragment) return undefined;
  const type = fragment.typeCondition ? schema.getType(fragment.typeCondition.name.value) : parentType;
  if (!type || !isCompositeType(type)) return undefined;
  return {
    selectionSet: fragment.selectionSet,
    type,
    ...(selection.kind === Kind.FRAGMENT_SPREAD ? { spread: selection.name.value } : {}),
  };
}

export interface CollectedField {
  node: FieldNode;
  /** The type the field is selected on (a fragment's type condition, or the selection set's own type). */
  parentType: GraphQLCompositeType;
}

/**
 * Every field a selection set selects at its own level, through inline fragments and fragment
 * spreads, with the type each is selected on. @skip/@include are not evaluated (an upper bound).
 * A spread is followed once per path: a fragment cycle is a validation error, and never loops here.
 */
export function collectFields(
  schema: GraphQLSchema,
  fragments: Fragments,
  parentType: GraphQLCompositeType,
  set: SelectionSetNode,
): CollectedField[] {
  const found: CollectedField[] = [];
  const walk = (type: GraphQLCompositeType, selections: SelectionSetNode, spreading: ReadonlySet<string>) => {
    for (const selection of selections.selections) {
      if (selection.kind === Kind.FIELD) {
        found.push({ node: selection, parentType: type });
        continue;
      }
      const target = fragmentTarget(schema, fragments, selection, type);
      if (!target || (target.spread && spreading.has(target.spread))) continue;
      walk(target.type, target.selectionSet, target.spread ? new Set([...spreading, target.spread]) : spreading);
    }
  };
  walk(parentType, set, new Set());
  return found;
}
