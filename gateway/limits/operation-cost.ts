import {
  Kind,
  getNamedType,
  getNullableType,
  isCompositeType,
  isListType,
  isObjectType,
  isTypeDefinitionNode,
  isTypeExtensionNode,
  valueFromASTUntyped,
} from 'graphql';
import type {
  ConstDirectiveNode,
  DocumentNode,
  FieldNode,
  GraphQLCompositeType,
  GraphQLField,
  GraphQLSchema,
  OperationDefinitionNode,
  SelectionSetNode,
} from 'graphql';
import { getArgumentValues, getVariableValues } from 'graphql';
import { collectFields, fragmentsOf } from '../selections.js';
import type { Supergraph } from '../supergraph.js';

/**
 * Static cost of an operation, before anything runs: the demand estimate partners' budgets are
 * charged in (cost-budget.ts) and that caps any single operation. The model is Apollo Router's
 * demand control, simplified:
 *   - a field returning an object (or interface, union) costs 1, a scalar or enum field 0, a root
 *     mutation field 10; `@cost(weight:)` on the field, or on its return type, overrides that;
 *   - a list multiplies the cost of one item (its weight plus its selections) by its size: the
 *     slicing argument named by `@listSize(slicingArguments:)` (e.g. `first`, variables applied),
 *     else `@listSize(assumedSize:)`, else a configured default. `sizedFields: ["edges"]` applies
 *     the size to those child fields, as on a Relay connection;
 *   - a field without hints that takes `first` and returns a type with an `edges` list is read as
 *     a Relay connection (`slicingArguments: ["first"], sizedFields: ["edges"]`), so connections
 *     of subgraphs that carry no hints are still sized by what the client asks for;
 *   - fragments on different types of an abstract field are all counted (an upper bound).
 * `@cost` and `@listSize` live in the supergraph (federation 2.9 composes them there) but not in
 * the API schema, so they are read from the supergraph once per load.
 */

export interface ListSizeHint {
  assumedSize?: number;
  slicingArguments?: string[];
  sizedFields?: string[];
}

export interface CostHints {
  /** "Type.field" or "Type" -> @cost(weight:). */
  weights: Map<string, number>;
  /** "Type.field" -> @listSize(...). */
  listSizes: Map<string, ListSizeHint>;
}

export interface CostOptions {
  /** Size of a list with neither a slicing argument nor an assumed size. */
  defaultListSize: number;
}

const COST_SPEC = 'https://specs.apollo.dev/cost/';
const MUTATION_WEIGHT = 10;

/** Reads @cost / @listSize out of a supergraph, under whatever names its @link gave them. */
export function readCostHints(supergraph: Supergraph): CostHints {
  const doc = supergraph.document;
  const names = directiveNames(doc);
  const hints: CostHints = { weights: new Map(), listSizes: new Map() };
  if (!names) return hints;
  for (const def of doc.definitions) {
    if (!isTypeDefinitionNode(def) && !isTypeExtensionNode(def)) continue;
    const typeName = def.name.value;
    const typeWeight = weightOf(def.directives, names.cost);
    if (typeWeight !== undefined) hints.weights.set(typeName, typeWeight);
    if (!('fields' in def) || !def.fields) continue;
    for (const field of def.fields) {
      if (field.kind !== Kind.FIELD_DEFINITION) continue;
      const coordinate = `${typeName}.${field.name.value}`;
      const weight = weightOf(field.directives, names.cost);
      if (weight !== undefined) hints.weights.set(coordinate, weight);
      const listSize = field.directives?.find((d) => d.name.value === names.listSize);
      if (listSize) hints.listSizes.set(coordinate, argsOf(listSize));
    }
  }
  return hints;
}

/** The operation's static cost for the given variables (invalid variables fall back to argument defaults). */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown>,
  hints: CostHints,
  opts: CostOptions,
): number {
  const fragments = fragmentsOf(document);
  const root = schema.getRootType(operation.operation);
  if (!root) return 0;
  // Coerced as execution will (defaults applied); invalid variables fail execution anyway, so the
  // estimate then uses the arguments' schema defaults.
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables);
  const values = coerced.coerced ?? {};

  /** `sized`: child fields that a parent's @listSize(sizedFields:) gave a size to. */
  const selectionsCost = (type: GraphQLCompositeType, set: SelectionSetNode, sized: Map<string, number>): number => {
    let total = 0;
    for (const { node, parentType } of collectFields(schema, fragments, type, set)) {
      const field = 'getFields' in parentType ? parentType.getFields()[node.name.value] : undefined;
      if (field) total += fieldCost(parentType, field, node, sized.get(node.name.value));
    }
    return total;
  };

  const fieldCost = (
    parent: GraphQLCompositeType,
    field: GraphQLField<unknown, unknown>,
    node: FieldNode,
    givenSize: number | undefined,
  ): number => {
    if (field.name.startsWith('__')) return 0;
    const named = getNamedType(field.type);
    const coordinate = `${parent.name}.${field.name}`;
    const weight =
      hints.weights.get(coordinate) ??
      hints.weights.get(named.name) ??
      (parent === schema.getMutationType() ? MUTATION_WEIGHT : isCompositeType(named) ? 1 : 0);
    const hint = hints.listSizes.get(coordinate) ?? relayConnection(field);
    const args = argumentValues(field, node, values);
    const size = hint ? sliceSize(hint, field, args) : undefined;
    const sizedChildren = new Map<string, number>();
    if (hint?.sizedFields && size !== undefined) for (const f of hint.sizedFields) sizedChildren.set(f, size);
    const children = node.selectionSet && isCompositeType(named) ? selectionsCost(named, node.selectionSet, sizedChildren) : 0;
    const one = weight + children;
    if (!isListType(getNullableType(field.type))) return one;
    // A sized field (`edges`) takes its parent's size; a list's own hint applies unless it sizes children instead.
    const ownSize = hint && !hint.sizedFields?.length ? size : undefined;
    return one * (givenSize ?? ownSize ?? opts.defaultListSize);
  };

  /** The largest slicing argument given; else (absent or null) the assumed size, or the argument's schema default. */
  const sliceSize = (hint: ListSizeHint, field: GraphQLField<unknown, unknown>, args: Record<string, unknown>): number => {
    const slicing = hint.slicingArguments ?? [];
    const sliced = slicing.map((a) => args[a]).filter((v): v is number => typeof v === 'number' && v >= 0);
    if (sliced.length) return Math.max(...sliced);
    const defaults = field.args
      .filter((a) => slicing.includes(a.name) && typeof a.defaultValue === 'number')
      .map((a) => a.defaultValue as number);
    return hint.assumedSize ?? (defaults.length ? Math.max(...defaults) : opts.defaultListSize);
  };

  return selectionsCost(root, operation.selectionSet, new Map());
}

function relayConnection(field: GraphQLField<unknown, unknown>): ListSizeHint | undefined {
  const named = getNamedType(field.type);
  if (!field.args.some((a) => a.name === 'first') || !isObjectType(named)) return undefined;
  const edges = named.getFields().edges;
  return edges && isListType(getNullableType(edges.type)) ? { slicingArguments: ['first'], sizedFields: ['edges'] } : undefined;
}

function argumentValues(
  field: GraphQLField<unknown, unknown>,
  node: FieldNode,
  variables: Record<string, unknown>,
): Record<string, unknown> {
  try {
    return getArgumentValues(field, node, variables);
  } catch {
    // Bad variables fail execution anyway; estimate with the schema's defaults.
    return Object.fromEntries(field.args.filter((a) => a.defaultValue !== undefined).map((a) => [a.name, a.defaultValue]));
  }
}

/** `@cost` / `@listSize` as the supergraph names them: `@<as>` and the imported (or `<as>__listSize`) name. */
function directiveNames(doc: DocumentNode): { cost: string; listSize: string } | undefined {
  for (const def of doc.definitions) {
    if (def.kind !== Kind.SCHEMA_DEFINITION && def.kind !== Kind.SCHEMA_EXTENSION) continue;
    for (const link of def.directives ?? []) {
      if (link.name.value !== 'link') continue;
      const { url, as, import: imports } = argsOf(link) as { url?: string; as?: string; import?: unknown[] };
      if (!url?.startsWith(COST_SPEC)) continue;
      const prefix = as ?? 'cost';
      const imported = (name: string) => {
        for (const i of imports ?? []) {
          if (i === `@${name}`) return name;
          if (i && typeof i === 'object' && (i as { name?: string }).name === `@${name}`)
            return ((i as { as?: string }).as ?? `@${name}`).slice(1);
        }
        return undefined;
      };
      return { cost: imported('cost') ?? prefix, listSize: imported('listSize') ?? `${prefix}__listSize` };
    }
  }
  return undefined;
}

function argsOf(directive: ConstDirectiveNode): Record<string, unknown> {
  return Object.fromEntries((directive.arguments ?? []).map((a) => [a.name.value, valueFromASTUntyped(a.value)]));
}

function weightOf(directives: readonly ConstDirectiveNode[] | undefined, name: string): number | undefined {
  const directive = directives?.find((d) => d.name.value === name);
  const weight = directive ? argsOf(directive).weight : undefined;
  return typeof weight === 'number' ? weight : undefined;
}
