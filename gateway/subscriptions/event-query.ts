import { Kind, OperationTypeNode, getArgumentValues, getOperationAST, print, visit } from 'graphql';
import type { DocumentNode, FieldNode, FragmentDefinitionNode, GraphQLSchema, OperationDefinitionNode } from 'graphql';
import { badInput } from '../../platform/errors.js';
import { fragmentsOf } from '../selections.js';
import type { SubscriptionField, SubscriptionFields } from './fields.js';

export const ENTITY_ID_VARIABLE = '__eventEntityId';

export interface PlannedSubscription {
  field: SubscriptionField;
  /** The field's response key (its alias, or its name). */
  responseKey: string;
  args: Record<string, unknown>;
  /** The query each event runs: the subscription's selection set on the entity's query field. */
  query: string;
  variables: Record<string, unknown>;
}

/**
 * Turns `subscription { thingChanged(thingId: $id) { …selection… } }`, declared with
 * `@event(…, entity: "thing", id: "thingId")`, into
 * `query { thingChanged: thing(id: $__eventEntityId) { …selection… } }`. Running that per event
 * through the gateway's own query pipeline gives subscription payloads everything a query has:
 * fields from every subgraph, the same authorization rules, the same query plans (cached).
 */
export function planSubscription(
  fields: SubscriptionFields,
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variableValues: Record<string, unknown>,
): PlannedSubscription {
  const operation = getOperationAST(document, operationName);
  if (operation?.operation !== OperationTypeNode.SUBSCRIPTION) throw badInput('Expected a subscription operation.');
  const [selection, ...rest] = operation.selectionSet.selections;
  if (!selection || rest.length > 0 || selection.kind !== Kind.FIELD) {
    throw badInput('A subscription selects exactly one root field, directly (not through a fragment).');
  }
  const fieldName = selection.name.value;
  const field = fields.get(fieldName);
  const fieldDef = schema.getSubscriptionType()?.getFields()[fieldName];
  if (!field || !fieldDef) throw badInput(`Unknown subscription field ${fieldName}.`);
  const args = getArgumentValues(fieldDef, selection, variableValues);

  const entitySelection: FieldNode = {
    kind: Kind.FIELD,
    alias: { kind: Kind.NAME, value: selection.alias?.value ?? fieldName },
    name: { kind: Kind.NAME, value: field.entityField },
    arguments: [
      {
        kind: Kind.ARGUMENT,
        name: { kind: Kind.NAME, value: 'id' },
        value: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: ENTITY_ID_VARIABLE } },
      },
    ],
    directives: selection.directives ?? [],
    ...(selection.selectionSet ? { selectionSet: selection.selectionSet } : {}),
  };
  const fragments = [...fragmentsOf(document).values()];
  const used = usedVariables([entitySelection, ...fragments]);
  const query: OperationDefinitionNode = {
    kind: Kind.OPERATION_DEFINITION,
    operation: OperationTypeNode.QUERY,
    name: { kind: Kind.NAME, value: `${operation.name?.value ?? 'Subscription'}Event` },
    variableDefinitions: [
      ...(operation.variableDefinitions ?? []).filter((v) => used.has(v.variable.name.value)),
      {
        kind: Kind.VARIABLE_DEFINITION,
        variable: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: ENTITY_ID_VARIABLE } },
        type: { kind: Kind.NON_NULL_TYPE, type: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: 'ID' } } },
      },
    ],
    directives: [],
    selectionSet: { kind: Kind.SELECTION_SET, selections: [entitySelection] },
  };
  return {
    field,
    responseKey: selection.alias?.value ?? fieldName,
    args,
    query: print({ kind: Kind.DOCUMENT, definitions: [query, ...fragments] }),
    variables: Object.fromEntries(Object.entries(variableValues).filter(([k]) => used.has(k))),
  };
}

function usedVariables(nodes: readonly (FieldNode | FragmentDefinitionNode)[]): Set<string> {
  const names = new Set<string>();
  for (const node of nodes) {
    visit(node, {
      Variable(v) {
        names.add(v.name.value);
      },
    });
  }
  names.delete(ENTITY_ID_VARIABLE);
  return names;
}
