import { print } from 'graphql';
import type { DocumentNode } from 'graphql';
import { LRUCache } from 'lru-cache';
import { Supergraph, operationFromDocument } from '@apollo/federation-internals';
import type { Schema } from '@apollo/federation-internals';
import { QueryPlanner } from '@apollo/query-planner';
import type { DeferredNode, FetchNode, PlanNode, QueryPlan } from '@apollo/query-planner';
import { undeferred } from './defer-document.js';

export interface Planned {
  plan: QueryPlan;
  /** The document the plan was made for (fragments the planner could not defer are no longer deferred). */
  document: DocumentNode;
}

/** The supergraph as executeQueryPlan needs it, and a planner that plans @defer. */
export interface DeferPlanning {
  apiSchema: Schema;
  supergraphSchema: ReturnType<Schema['toGraphQLJSSchema']>;
  plan(document: DocumentNode, labels: string[]): Planned;
}

export function createDeferPlanning(supergraphSdl: string): DeferPlanning {
  const supergraph = Supergraph.build(supergraphSdl);
  const apiSchema = supergraph.apiSchema();
  const planner = new QueryPlanner(supergraph, { incrementalDelivery: { enableDefer: true } });
  const cache = new LRUCache<string, Planned>({ max: 500 });
  const build = (document: DocumentNode) => planner.buildQueryPlan(operationFromDocument(apiSchema, document, { validate: false }));

  /*
   * The JS planner cannot defer some fragments (one whose field @requires data from another
   * subgraph trips an assertion in 2.14). Such a fragment is delivered with its parent instead,
   * which the incremental delivery RFC allows; every other fragment stays deferred.
   */
  const planWithFallback = (document: DocumentNode, labels: string[]): Planned => {
    try {
      return { plan: build(document), document };
    } catch {
      for (const label of labels) {
        const candidate = undeferred(document, new Set([label]));
        try {
          return { plan: build(candidate), document: candidate };
        } catch {
          // try the next one
        }
      }
      const plain = undeferred(document);
      return { plan: build(plain), document: plain };
    }
  };

  return {
    apiSchema,
    supergraphSchema: supergraph.schema.toGraphQLJSSchema(),
    plan(document, labels) {
      const key = print(document);
      let planned = cache.get(key);
      if (!planned) {
        planned = planWithFallback(document, labels);
        cache.set(key, planned);
      }
      return planned;
    },
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
        if ((n as FetchNode).id) fetchIds.push((n as FetchNode).id!);
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
