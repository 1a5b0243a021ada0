import { Kind, OperationTypeNode } from 'graphql';
import type { ConstDirectiveNode, DocumentNode, FieldDefinitionNode, ObjectTypeDefinitionNode } from 'graphql';
import type { StreamName } from '../../platform/events/types.js';
import type { Supergraph } from '../supergraph.js';

/** The spec a subgraph links to declare a subscription's events (`@link(url: "<this>/v0.1", import: ["@event"])`). */
export const EVENT_SPEC_URL = 'https://specs.supergraph.internal/event/';

/**
 * How one subscription field maps onto the event backbone, as its subgraph declared it with
 * `@event`: which event feeds it, which query field resolves the event's entity (so a payload can
 * select from every subgraph, exactly like a query), which argument narrows it to one entity, and
 * who may receive an event.
 */
export interface SubscriptionField {
  eventType: string;
  /** Where the events are kept for replay (the declaring subgraph's own stream unless `stream` says otherwise). */
  stream: StreamName;
  /** Query field taking `id: ID!` that returns the event's entity. */
  entityField: string;
  /** The payload field with the entity's id, and the argument (same name) that narrows to one entity. */
  idArgument: string;
  entityId(payload: unknown): string | undefined;
  /** The customer an event concerns; undefined means public (anyone, anonymous included). */
  ownerId?(payload: unknown): string | undefined;
}

export type SubscriptionFields = ReadonlyMap<string, SubscriptionField>;

/**
 * Reads every Subscription field's `@event` from the composed supergraph (`@composeDirective` keeps
 * it there). The gateway knows no field by name: adding a subscription is a change to the subgraph
 * that owns it. A declaration that cannot work (no such query field) stops the gateway at start-up
 * (and makes a reload refuse that supergraph).
 */
export function readSubscriptionFields(supergraph: Supergraph): SubscriptionFields {
  const doc = supergraph.document;
  const directive = eventDirectiveName(doc);
  const fields = new Map<string, SubscriptionField>();
  if (!directive) return fields;
  const graphs = new Map(supergraph.subgraphs.map((s) => [s.graph, s.name]));
  const objects = doc.definitions.filter((d): d is ObjectTypeDefinitionNode => d.kind === Kind.OBJECT_TYPE_DEFINITION);
  const root = (operation: OperationTypeNode, fallback: string) => rootTypeName(doc, operation) ?? fallback;
  const queryType = objects.find((d) => d.name.value === root(OperationTypeNode.QUERY, 'Query'));
  const subscriptionType = objects.find((d) => d.name.value === root(OperationTypeNode.SUBSCRIPTION, 'Subscription'));
  for (const field of subscriptionType?.fields ?? []) {
    const event = field.directives?.find((d) => d.name.value === directive);
    if (!event) continue;
    const declared = fieldOf(event, graphs, field, subscriptionType!);
    if (!queryType?.fields?.some((f) => f.name.value === declared.entityField)) {
      throw new Error(`Subscription.${field.name.value} @event: the supergraph has no Query.${declared.entityField} to resolve its entity`);
    }
    fields.set(field.name.value, declared);
  }
  return fields;
}

function fieldOf(
  event: ConstDirectiveNode,
  graphs: Map<string, string>,
  field: FieldDefinitionNode,
  type: ObjectTypeDefinitionNode,
): SubscriptionField {
  const arg = (name: string) => {
    const value = event.arguments?.find((a) => a.name.value === name)?.value;
    return value?.kind === Kind.STRING ? value.value : undefined;
  };
  const coordinate = `Subscription.${field.name.value}`;
  const eventType = arg('type');
  const entityField = arg('entity');
  const id = arg('id');
  if (!eventType || !entityField || !id) throw new Error(`${coordinate} @event needs type, entity and id`);
  // A service appends its events to the stream named after it (platform/events/outbox.ts).
  const stream = arg('stream') ?? owningGraph(field, type, graphs);
  if (!stream) throw new Error(`${coordinate} @event: no stream, and no single subgraph owns the field`);
  const owner = arg('owner');
  return {
    eventType,
    // The bus reads any stream by name; which streams exist is the producers' business, not the gateway's.
    stream: stream as StreamName,
    entityField,
    idArgument: id,
    entityId: (payload) => stringAt(payload, id),
    ...(owner ? { ownerId: (payload: unknown) => stringAt(payload, owner) } : {}),
  };
}

const stringAt = (payload: unknown, key: string): string | undefined => {
  const value = payload && typeof payload === 'object' ? (payload as Record<string, unknown>)[key] : undefined;
  // Ids are strings in every payload; a number is accepted as its decimal form, anything else is no id.
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
};

/** The name the supergraph gives our directive: imported as `@event`, renamed with `{name, as}`, or namespaced `event__event`. */
function eventDirectiveName(doc: DocumentNode): string | undefined {
  for (const def of doc.definitions) {
    if (def.kind !== Kind.SCHEMA_DEFINITION && def.kind !== Kind.SCHEMA_EXTENSION) continue;
    for (const link of def.directives ?? []) {
      if (link.name.value !== 'link') continue;
      const args = new Map(link.arguments?.map((a) => [a.name.value, a.value]));
      const url = args.get('url');
      if (url?.kind !== Kind.STRING || !url.value.startsWith(EVENT_SPEC_URL)) continue;
      const imports = args.get('import');
      for (const item of imports?.kind === Kind.LIST ? imports.values : []) {
        if (item.kind === Kind.STRING && item.value === '@event') return 'event';
        if (item.kind !== Kind.OBJECT) continue;
        const name = item.fields.find((f) => f.name.value === 'name')?.value;
        const as = item.fields.find((f) => f.name.value === 'as')?.value;
        if (name?.kind === Kind.STRING && name.value === '@event') return as?.kind === Kind.STRING ? as.value.replace(/^@/, '') : 'event';
      }
      const as = args.get('as');
      return `${as?.kind === Kind.STRING ? as.value : 'event'}__event`;
    }
  }
  return undefined;
}

/** The one subgraph that resolves the field: its `@join__field(graph:)`, or the type's only `@join__type` when it has none. */
function owningGraph(field: FieldDefinitionNode, type: ObjectTypeDefinitionNode, graphs: Map<string, string>): string | undefined {
  const graphsOf = (directives: readonly ConstDirectiveNode[] | undefined, name: string) =>
    (directives ?? [])
      .filter((d) => d.name.value === name)
      .map((d) => d.arguments?.find((a) => a.name.value === 'graph')?.value)
      .flatMap((v) => (v?.kind === Kind.ENUM ? [graphs.get(v.value)] : []));
  const fieldGraphs = graphsOf(field.directives, 'join__field');
  const owners = fieldGraphs.length ? fieldGraphs : graphsOf(type.directives, 'join__type');
  return owners.length === 1 ? owners[0] : undefined;
}

function rootTypeName(doc: DocumentNode, operation: OperationTypeNode): string | undefined {
  for (const def of doc.definitions) {
    if (def.kind !== Kind.SCHEMA_DEFINITION) continue;
    return def.operationTypes.find((t) => t.operation === operation)?.type.name.value;
  }
  return undefined;
}
