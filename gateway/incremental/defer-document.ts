import {
  DirectiveLocation,
  GraphQLBoolean,
  GraphQLDirective,
  GraphQLNonNull,
  GraphQLString,
  Kind,
  TypeInfo,
  getDirectiveValues,
  getOperationAST,
  isListType,
  isNonNullType,
  visit,
  visitWithTypeInfo,
  BREAK,
} from 'graphql';
import type {
  GraphQLSchema,
  DirectiveNode,
  DocumentNode,
  FragmentDefinitionNode,
  InlineFragmentNode,
  OperationDefinitionNode,
  SelectionNode,
  SelectionSetNode,
} from 'graphql';

/** `@defer` as the incremental delivery RFC (and Apollo Client's deferSpec=20220824) defines it. */
export const GraphQLDeferDirective = new GraphQLDirective({
  name: 'defer',
  locations: [DirectiveLocation.FRAGMENT_SPREAD, DirectiveLocation.INLINE_FRAGMENT],
  args: {
    if: { type: new GraphQLNonNull(GraphQLBoolean), defaultValue: true },
    label: { type: GraphQLString },
  },
});

/** Labels this gateway gives unlabelled fragments so each plan part maps back to its fragment (never sent to clients). */
const OWN_LABEL = '__defer_';

export interface DeferredFragment {
  label: string;
  /** The client's own label, if it gave one. */
  userLabel?: string;
  /** Response keys from the root to the object the fragment applies to. */
  path: string[];
}

export interface DeferredOperation {
  /** One operation with named fragments inlined; active @defer labelled, inactive ones removed. */
  document: DocumentNode;
  fragments: Map<string, DeferredFragment>;
  /** The request's variables, coerced (defaults applied). */
  variables: Record<string, unknown>;
}

// Asked twice per request (supergraph pinning, the deferring gateway) of a document Apollo's
// document store hands out again for every repeat of the same query: one walk per document.
const deferMentioned = new WeakMap<DocumentNode, boolean>();

export function mentionsDefer(document: DocumentNode): boolean {
  let found = deferMentioned.get(document);
  if (found !== undefined) return found;
  found = false;
  visit(document, {
    Directive(node) {
      if (node.name.value !== 'defer') return undefined;
      found = true;
      return BREAK;
    },
  });
  deferMentioned.set(document, found);
  return found;
}

const isDefer = (d: DirectiveNode) => d.name.value === 'defer';
const deferOf = (node: InlineFragmentNode) => node.directives?.find(isDefer);
const withoutDeferDirective = (node: InlineFragmentNode): InlineFragmentNode => ({
  ...node,
  directives: node.directives?.filter((d) => !isDefer(d)),
});
const mapSelections = (set: SelectionSetNode, f: (s: SelectionNode) => SelectionNode | null): SelectionSetNode => ({
  ...set,
  selections: set.selections.map(f).filter((s): s is SelectionNode => s !== null),
});

/**
 * The operation to run, ready for planning: fragment spreads become inline fragments (a deferred
 * spread keeps its @defer), `@defer(if: false)` is dropped, and every active @defer carries a
 * label the query plan's deferred nodes are matched by.
 */
export function prepareDeferredOperation(
  document: DocumentNode,
  operationName: string | null,
  variables: Record<string, unknown>,
): DeferredOperation | undefined {
  const operation = getOperationAST(document, operationName);
  if (!operation) return undefined;
  const definitions = new Map(
    document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]),
  );
  const fragments = new Map<string, DeferredFragment>();
  let counter = 0;

  const walk = (set: SelectionSetNode, path: string[]): SelectionSetNode =>
    mapSelections(set, (selection) => {
      if (selection.kind === Kind.FIELD) {
        const key = selection.alias?.value ?? selection.name.value;
        return selection.selectionSet ? { ...selection, selectionSet: walk(selection.selectionSet, [...path, key]) } : selection;
      }
      const inline: InlineFragmentNode =
        selection.kind === Kind.INLINE_FRAGMENT
          ? selection
          : {
              kind: Kind.INLINE_FRAGMENT,
              typeCondition: definitions.get(selection.name.value)!.typeCondition,
              directives: selection.directives,
              selectionSet: definitions.get(selection.name.value)!.selectionSet,
            };
      const directive = deferOf(inline);
      if (!directive) return { ...inline, selectionSet: walk(inline.selectionSet, path) };
      const args = getDirectiveValues(GraphQLDeferDirective, { directives: [directive] }, variables) as
        { if: boolean; label?: string } | undefined;
      if (args && !args.if) return { ...withoutDeferDirective(inline), selectionSet: walk(inline.selectionSet, path) };
      const label = args?.label ?? `${OWN_LABEL}${counter++}`;
      fragments.set(label, { label, userLabel: args?.label, path });
      const labelled: DirectiveNode = {
        kind: Kind.DIRECTIVE,
        name: { kind: Kind.NAME, value: 'defer' },
        arguments: [{ kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: 'label' }, value: { kind: Kind.STRING, value: label } }],
      };
      return {
        ...inline,
        directives: [...(inline.directives ?? []).filter((d) => !isDefer(d)), labelled],
        selectionSet: walk(inline.selectionSet, path),
      };
    });

  const prepared: OperationDefinitionNode = { ...operation, selectionSet: walk(operation.selectionSet, []) };
  return { document: { kind: Kind.DOCUMENT, definitions: [prepared] }, fragments, variables };
}

const labelOf = (node: InlineFragmentNode): string | undefined => {
  const arg = deferOf(node)?.arguments?.find((a) => a.name.value === 'label');
  return arg?.value.kind === Kind.STRING ? arg.value.value : undefined;
};

function mapOperation(document: DocumentNode, f: (set: SelectionSetNode) => SelectionSetNode | null): DocumentNode {
  const operation = document.definitions[0] as OperationDefinitionNode;
  const selectionSet = f(operation.selectionSet) ?? typenameOnly(operation.selectionSet);
  return { kind: Kind.DOCUMENT, definitions: [{ ...operation, selectionSet }] };
}

const typenameOnly = (set: SelectionSetNode): SelectionSetNode => ({
  ...set,
  selections: [{ kind: Kind.FIELD, name: { kind: Kind.NAME, value: '__typename' } }],
});

function stripDeferred(set: SelectionSetNode, which: (label: string | undefined) => boolean = () => true): SelectionSetNode {
  const kept = mapSelections(set, (s) => {
    if (s.kind === Kind.INLINE_FRAGMENT)
      return deferOf(s) && which(labelOf(s)) ? null : { ...s, selectionSet: stripDeferred(s.selectionSet, which) };
    return s.kind === Kind.FIELD && s.selectionSet ? { ...s, selectionSet: stripDeferred(s.selectionSet, which) } : s;
  });
  return kept.selections.length ? kept : typenameOnly(set);
}

/** Deferred fragments removed (what the initial payload holds); a selection left empty asks for __typename. */
export function withoutDeferred(document: DocumentNode): DocumentNode {
  return mapOperation(document, (set) => stripDeferred(set));
}

/** One deferred fragment removed, the others left as they are. */
export function withoutFragment(document: DocumentNode, label: string): DocumentNode {
  return mapOperation(document, (set) => stripDeferred(set, (l) => l === label));
}

function isListOutput(type: unknown): boolean {
  return isListType(isNonNullType(type) ? type.ofType : type);
}

/** Whether the way to a deferred fragment passes through a list field (its objects are then known only by position). */
export function deferredThroughList(schema: GraphQLSchema, document: DocumentNode, label: string): boolean {
  const typeInfo = new TypeInfo(schema);
  const lists: boolean[] = [];
  let found = false;
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field: {
        enter() {
          lists.push(isListOutput(typeInfo.getType()));
        },
        leave() {
          lists.pop();
        },
      },
      InlineFragment(node) {
        if (labelOf(node) !== label) return undefined;
        found = lists.includes(true);
        return BREAK;
      },
    }),
  );
  return found;
}

function undeferSet(set: SelectionSetNode, labels?: ReadonlySet<string>): SelectionSetNode {
  return mapSelections(set, (s) => {
    if (s.kind === Kind.INLINE_FRAGMENT) {
      const label = labelOf(s);
      const keep = label !== undefined && labels !== undefined && !labels.has(label);
      return { ...(keep ? s : withoutDeferDirective(s)), selectionSet: undeferSet(s.selectionSet, labels) };
    }
    return s.kind === Kind.FIELD && s.selectionSet ? { ...s, selectionSet: undeferSet(s.selectionSet, labels) } : s;
  });
}

/** The given fragments (all when `labels` is absent) are no longer deferred: their fields join their parent's. */
export function undeferred(document: DocumentNode, labels?: ReadonlySet<string>): DocumentNode {
  return mapOperation(document, (set) => undeferSet(set, labels));
}

/**
 * Only the way from the root to one deferred fragment, and the fragment's own fields. Fragments
 * deferred inside it are left out (they come in their own payloads), or, with `nested: 'inline'`,
 * kept as ordinary fields (when the fragment runs as an operation of its own). Shapes that
 * fragment's payload.
 */
export function onlyDeferred(document: DocumentNode, label: string, nested: 'omit' | 'inline' = 'omit'): DocumentNode {
  const content = (set: SelectionSetNode) => (nested === 'omit' ? stripDeferred(set) : undeferSet(set));
  const prune = (set: SelectionSetNode): SelectionSetNode | null => {
    const kept = mapSelections(set, (s) => {
      if (s.kind === Kind.FRAGMENT_SPREAD || (s.kind === Kind.FIELD && !s.selectionSet)) return null;
      if (s.kind === Kind.INLINE_FRAGMENT && labelOf(s) === label)
        return { ...withoutDeferDirective(s), selectionSet: content(s.selectionSet) };
      const inner = prune(s.selectionSet!);
      if (!inner) return null;
      return s.kind === Kind.INLINE_FRAGMENT ? { ...withoutDeferDirective(s), selectionSet: inner } : { ...s, selectionSet: inner };
    });
    return kept.selections.length ? kept : null;
  };
  return mapOperation(document, prune);
}
