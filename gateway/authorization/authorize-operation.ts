import { Kind, getNamedType, getOperationAST, isCompositeType, isNonNullType, isObjectType, isInterfaceType, visit } from 'graphql';
import type {
  GraphQLError,
  DocumentNode,
  FieldNode,
  GraphQLCompositeType,
  GraphQLSchema,
  OperationDefinitionNode,
  SelectionNode,
  SelectionSetNode,
} from 'graphql';
import { allows } from './policies.js';
import type { Policy } from './policies.js';
import { authorizationDenied } from './denial.js';
import { fragmentTarget, fragmentsOf } from '../selections.js';

export type ResponsePath = string[];

export interface AuthorizedOperation {
  /** The operation without the fields the caller may not see; null when nothing is left to run. */
  document: DocumentNode | null;
  /** One per removed field, coded by the contract (see denial.ts), with the field's response path. */
  errors: GraphQLError[];
  /** Where the response must hold null instead (a removed field, or the nullable parent of a removed non-null one). */
  nullPaths: ResponsePath[];
}

interface Caller {
  authenticated: boolean;
  scopes: ReadonlySet<string>;
}

/**
 * Apollo Router's authorization semantics, before any subgraph is called: fields (or fields of
 * types) the caller is not allowed are removed from the operation; each comes back null with an
 * error at its path (the contract's UNAUTHENTICATED / FORBIDDEN, see denial.ts), and the rest of
 * the operation is still served.
 * A removed non-null field nulls its nearest nullable parent instead, as GraphQL null propagation would.
 */
// eslint-disable-next-line max-lines-per-function -- one walk over the operation; its visitor cases share the error and null-path lists and read best together
export function authorizeOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null,
  policies: Map<string, Policy>,
  caller: Caller,
): AuthorizedOperation {
  const operation = getOperationAST(document, operationName);
  const errors: GraphQLError[] = [];
  const nullPaths: ResponsePath[] = [];
  if (!operation) return { document, errors, nullPaths };
  const fragments = fragmentsOf(document);
  const root = schema.getRootType(operation.operation);
  if (!root) return { document, errors, nullPaths };

  const denied = (coordinate: string) => {
    const policy = policies.get(coordinate);
    return policy !== undefined && !allows(policy, caller);
  };

  /** Returns the filtered selection set, or 'null-parent' when a removed non-null field must null its parent. */
  function filter(
    selectionSet: SelectionSetNode,
    parentType: GraphQLCompositeType,
    path: ResponsePath,
  ): SelectionSetNode | 'empty' | 'null-parent' {
    const kept: SelectionNode[] = [];
    let nullParent = false;
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const result = filterField(selection, parentType, path);
        if (result === 'null-parent') nullParent = true;
        else if (result) kept.push(result);
        continue;
      }
      const target = fragmentTarget(schema, fragments, selection, parentType);
      if (!target) continue;
      // Fragments are inlined: the same fragment may be allowed in one place and not in another.
      const inner = filter(target.selectionSet, target.type, path);
      if (inner === 'null-parent') nullParent = true;
      else if (inner !== 'empty') {
        const typeCondition =
          selection.kind === Kind.FRAGMENT_SPREAD ? fragments.get(selection.name.value)!.typeCondition : selection.typeCondition;
        kept.push({ kind: Kind.INLINE_FRAGMENT, typeCondition, directives: selection.directives, selectionSet: inner });
      }
    }
    if (nullParent) return 'null-parent';
    return kept.length ? { ...selectionSet, selections: kept } : 'empty';
  }

  function filterField(field: FieldNode, parentType: GraphQLCompositeType, path: ResponsePath): FieldNode | null | 'null-parent' {
    const name = field.name.value;
    if (name.startsWith('__')) return field;
    const key = field.alias?.value ?? name;
    const fieldPath = [...path, key];
    const def = isObjectType(parentType) || isInterfaceType(parentType) ? parentType.getFields()[name] : undefined;
    if (!def) return field;
    const named = getNamedType(def.type);
    if (denied(`${parentType.name}.${name}`) || denied(named.name)) {
      errors.push(authorizationDenied(caller, `${parentType.name}.${name}`, fieldPath));
      if (isNonNullType(def.type)) return 'null-parent';
      nullPaths.push(fieldPath);
      return null;
    }
    if (!field.selectionSet || !isCompositeType(named)) return field;
    const inner = filter(field.selectionSet, named, fieldPath);
    if (inner === 'empty' || inner === 'null-parent') {
      // Nothing of this field may be read (or a non-null child was removed): it becomes null itself.
      if (isNonNullType(def.type)) return 'null-parent';
      nullPaths.push(fieldPath);
      return null;
    }
    return { ...field, selectionSet: inner };
  }

  if (!mayBeGuarded(document, policies)) return { document, errors, nullPaths };
  const filtered = filter(operation.selectionSet, root, []);
  if (errors.length === 0) return { document, errors, nullPaths };
  // Nothing left to run: every root field is null, or the whole data is (a removed non-null root field).
  if (filtered === 'null-parent') return { document: null, errors, nullPaths: [] };
  if (filtered === 'empty') return { document: null, errors, nullPaths };
  const newOperation: OperationDefinitionNode = { ...operation, selectionSet: filtered };
  return { document: { kind: Kind.DOCUMENT, definitions: [pruneVariables(newOperation)] }, errors, nullPaths };
}

/** Cheap pre-check: does the document name any field that carries a policy at all? */
function mayBeGuarded(document: DocumentNode, policies: Map<string, Policy>): boolean {
  const guardedNames = new Set([...policies.keys()].map((c) => c.split('.').at(-1)!));
  // An object, so the flag set inside the visitor is not narrowed to its initial `false`.
  const seen = { guarded: false };
  visit(document, {
    Field(node) {
      if (guardedNames.has(node.name.value)) seen.guarded = true;
    },
  });
  // Type-level policies can be reached through any field: only skip when no type policy exists.
  return seen.guarded || [...policies.keys()].some((c) => !c.includes('.'));
}

/** Variables only the removed fields used would make the operation invalid ("never used"). */
function pruneVariables(operation: OperationDefinitionNode): OperationDefinitionNode {
  const used = new Set<string>();
  visit(operation.selectionSet, {
    Variable(v) {
      used.add(v.name.value);
    },
  });
  for (const d of operation.directives ?? []) visit(d, { Variable: (v) => void used.add(v.name.value) });
  return { ...operation, variableDefinitions: operation.variableDefinitions?.filter((v) => used.has(v.variable.name.value)) };
}
