import { print } from 'graphql';
import type { DocumentNode } from 'graphql';
import { LRUCache } from 'lru-cache';
import { operationFromDocument } from '@apollo/federation-internals';
import type { Schema, Supergraph as BuiltSupergraph } from '@apollo/federation-internals';
import { QueryPlanner } from '@apollo/query-planner';
import type { DeferredNode, PlanNode, QueryPlan } from '@apollo/query-planner';
import { onlyDeferred, undeferred, withoutFragment } from './defer-document.js';

export interface SeparatePart {
  label: string;
  plan: QueryPlan;
  /** The way to the fragment and its fields, as an operation of its own (also what shapes its payload). */
  document: DocumentNode;
}

export interface Planned {
  plan: QueryPlan;
  /** The document the plan was made for (without the fragments run separately or no longer deferred). */
  document: DocumentNode;
  /** Deferred fragments the planner could not defer in place, each run as its own operation after the primary part. */
  separate: SeparatePart[];
}

/** The supergraph as executeQueryPlan needs it, and a planner that plans @defer. */
export interface DeferPlanning {
  apiSchema: Schema;
  supergraphSchema: ReturnType<Schema['toGraphQLJSSchema']>;
  /** `separable`: whether a fragment may run as an operation of its own (a query, no list on the way to it). */
  plan(document: DocumentNode, labels: string[], separable: (label: string) => boolean): Planned;
  /** A plan for an operation without @defer (a request finishing on the schema it started on, after a reload). */
  planOperation(document: DocumentNode, operationName: string | null | undefined): QueryPlan;
}

/**
 * `supergraph`: the loaded supergraph as @apollo/federation-internals built it (gateway/supergraph-load.ts),
 * so planning parses nothing. The planner itself is built here, on first use.
 */
export function createDeferPlanning(supergraph: BuiltSupergraph): DeferPlanning {
  const apiSchema = supergraph.apiSchema();
  const planner = new QueryPlanner(supergraph, { incrementalDelivery: { enableDefer: true } });
  const cache = new LRUCache<string, Planned>({ max: 500 });
  const build = (document: DocumentNode) => planner.buildQueryPlan(operationFromDocument(apiSchema, document, { validate: false }));

  /*
   * The JS planner cannot defer some fragments: one whose field @requires data from another
   * subgraph trips an assertion in 2.14. Such a fragment runs as an operation of its own (the way
   * to it plus its fields) once the primary part has run, when that is safe: a query (nothing is
   * written twice) whose way to the fragment has no list (objects known by position could differ
   * between the two reads). Otherwise it is delivered with its parent, which the incremental
   * delivery RFC allows. Every other fragment stays deferred in place.
   */
  const planWithFallback = (document: DocumentNode, labels: string[], separable: (label: string) => boolean): Planned => {
    try {
      return { plan: build(document), document, separate: [] };
    } catch {
      for (const label of labels) {
        try {
          if (!separable(label)) throw new Error('not separable');
          const rest = withoutFragment(document, label);
          const own = onlyDeferred(document, label, 'inline');
          return { plan: build(rest), document: rest, separate: [{ label, plan: build(own), document: own }] };
        } catch {
          const candidate = undeferred(document, new Set([label]));
          try {
            return { plan: build(candidate), document: candidate, separate: [] };
          } catch {
            // try the next one
          }
        }
      }
      const plain = undeferred(document);
      return { plan: build(plain), document: plain, separate: [] };
    }
  };

  return {
    apiSchema,
    supergraphSchema: supergraph.schema.toGraphQLJSSchema(),
    plan(document, labels, separable) {
      const key = print(document);
      let planned = cache.get(key);
      if (!planned) {
        planned = planWithFallback(document, labels, separable);
        cache.set(key, planned);
      }
      return planned;
    },
    planOperation: (document, operationName) =>
      planner.buildQueryPlan(operationFromDocument(apiSchema, document, { operationName: operationName ?? undefined, validate: false })),
  };
}

export interface SplitPlan {
  /** What runs now, with every Defer node replaced by its primary part and conditions decided. */
  node: PlanNode | undefined;
  /** The deferred parts met on the way, to run once what they depend on has run. */
  deferred: DeferredNode[];
  /** Ids of the fetches in `node` (deferred parts name them in `depends`). */
  fetchIds: string[];
}

/** `variables` are coerced (defaults applied), so a condition is just a variable's value. */
export function splitPlan(node: PlanNode | undefined, variables: Record<string, unknown>): SplitPlan {
  const deferred: DeferredNode[] = [];
  const fetchIds: string[] = [];
  const walk = (n: PlanNode | undefined): PlanNode | undefined => {
    if (!n) return undefined;
    switch (n.kind) {
      case 'Sequence':
      case 'Parallel':
        return { ...n, nodes: n.nodes.map(walk).filter((c): c is PlanNode => c !== undefined) };
      case 'Flatten': {
        const inner = walk(n.node);
        return inner && { ...n, node: inner };
      }
      case 'Fetch':
        if (n.id) fetchIds.push(n.id);
        return n;
      case 'Condition':
        return walk(variables[n.condition] === true ? n.ifClause : n.elseClause);
      case 'Defer':
        deferred.push(...n.deferred);
        return walk(n.primary.node);
      default:
        return n;
    }
  };
  return { node: walk(node), deferred, fetchIds };
}
