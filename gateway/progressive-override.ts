import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { Counter } from 'prom-client';
import { Supergraph, operationFromDocument } from '@apollo/federation-internals';
import type { Schema } from '@apollo/federation-internals';
import { QueryPlanner } from '@apollo/query-planner';
import type { QueryPlan } from '@apollo/query-planner';
import { buildOperationContext, executeQueryPlan } from '@apollo/gateway';
import type { ServiceMap } from '@apollo/gateway';
import type { GatewayExecutor, GatewayGraphQLRequestContext, GatewayInterface } from '@apollo/server-gateway-interface';
import type { ServiceMetrics } from '../platform/observability/metrics.js';
import type { GatewayContext } from './context.js';
import { wrapExecutor } from './wrapped-executor.js';

/**
 * Progressive `@override(from: "old", label: "percent(N)")`: a field moving to a new subgraph is
 * served by it for N% of callers, the same callers every time (sticky), until the label is removed.
 *
 * @apollo/query-planner 2.14 plans with override labels (`buildQueryPlan(operation, { overrideConditions })`,
 * every label of the supergraph defaulting to false), but @apollo/gateway's executor never passes
 * them and keys its plan cache on the operation alone, so the stock gateway always serves the old
 * subgraph. Here the executor is wrapped: a request whose caller falls in no label's share runs on
 * the stock executor (its plan is the all-false one); any other request is planned with its own
 * conditions (cached per operation and set of enabled labels) and run by the stock executeQueryPlan
 * over the same data sources. Labels that are not `percent(N)` are never enabled here (the planner's
 * default): nothing tells the gateway to turn them on.
 */

const PERCENT = /^percent\((\d{1,2}(?:\.\d{1,8})?|100)\)$/;

interface OverridePlanning {
  /** Each `percent(N)` label of the supergraph and its share, 0..100. */
  labels: Map<string, number>;
  apiSchema: Schema;
  supergraphSchema: ReturnType<Schema['toGraphQLJSSchema']>;
  plan(requestContext: GatewayGraphQLRequestContext, enabled: string[]): QueryPlan;
}

/** The `percent(N)` labels of `@join__field(overrideLabel:)` in a supergraph, with their shares. */
export function percentLabels(supergraph: Supergraph): Map<string, number> {
  const joinField = supergraph.schema.directives().find((d) => d.name === 'join__field');
  const labels = new Map<string, number>();
  for (const application of joinField?.applications() ?? []) {
    const label = (application.arguments() as { overrideLabel?: string }).overrideLabel;
    const share = label ? PERCENT.exec(label)?.[1] : undefined;
    if (label && share !== undefined) labels.set(label, Number(share));
  }
  return labels;
}

function createOverridePlanning(supergraphSdl: string): OverridePlanning {
  const supergraph = Supergraph.build(supergraphSdl);
  const apiSchema = supergraph.apiSchema();
  const planner = new QueryPlanner(supergraph);
  // Few label sets exist at once (one per combination callers fall into), so operations × sets stays small.
  const plans = new LRUCache<string, QueryPlan>({ max: 1_000 });
  return {
    labels: percentLabels(supergraph),
    apiSchema,
    supergraphSchema: supergraph.schema.toGraphQLJSSchema(),
    plan({ queryHash, request, document }, enabled) {
      const key = `${queryHash}\n${request.operationName ?? ''}\n${enabled.join('\n')}`;
      let plan = plans.get(key);
      if (!plan) {
        const operation = operationFromDocument(apiSchema, document, { operationName: request.operationName });
        plan = planner.buildQueryPlan(operation, { overrideConditions: new Map(enabled.map((label) => [label, true])) });
        plans.set(key, plan);
      }
      return plan;
    },
  };
}

/**
 * Where a caller falls, 0 (inclusive) to 100 (exclusive), for one label: a hash of both, so a caller
 * keeps its side of a label, and the labels of two fields moving at once split callers independently.
 */
export function callerShare(caller: string, label: string): number {
  return (createHash('sha256').update(label).update('\0').update(caller).digest().readUInt32BE(0) / 2 ** 32) * 100;
}

/** Who a request is, for stickiness: the signed-in user, else the partner, else the address; else this request alone. */
export function callerOf(context: Partial<GatewayContext> | undefined): string {
  if (context?.identity?.userId) return `user:${context.identity.userId}`;
  if (context?.client?.partnerId) return `partner:${context.client.partnerId}`;
  if (context?.clientIp) return `ip:${context.clientIp}`;
  return `request:${context?.requestId ?? Math.random()}`;
}

export function createProgressiveOverride(
  inner: GatewayInterface,
  options: { dataSources: () => ServiceMap; metrics: ServiceMetrics },
): GatewayInterface {
  const decisions = new Counter({
    name: 'gateway_override_label_total',
    help: 'Requests by progressive @override label and whether the label was enabled for the caller (the field served by the new subgraph).',
    labelNames: ['label', 'enabled'] as const,
    registers: [options.metrics.registry],
  });
  let sdl: string | undefined;
  // null: the loaded supergraph has no percent label (the usual case), so no second planner is built.
  let planning: OverridePlanning | null | undefined;
  inner.onSchemaLoadOrUpdate(({ coreSupergraphSdl }) => {
    if (coreSupergraphSdl !== sdl) planning = undefined;
    sdl = coreSupergraphSdl;
  });
  const currentPlanning = () => {
    if (planning === undefined) planning = sdl!.includes('overrideLabel: "percent(') ? createOverridePlanning(sdl!) : null;
    return planning;
  };

  const wrap =
    (execute: GatewayExecutor): GatewayExecutor =>
    async (requestContext) => {
      const current = currentPlanning();
      if (!current?.labels.size) return execute(requestContext);
      const caller = callerOf(requestContext.context as Partial<GatewayContext>);
      const enabled: string[] = [];
      for (const [label, share] of current.labels) {
        const on = callerShare(caller, label) < share;
        decisions.inc({ label, enabled: String(on) });
        if (on) enabled.push(label);
      }
      // The stock executor's plan is the one with every label off: its own plan cache serves it.
      if (enabled.length === 0) return execute(requestContext);
      const plan = current.plan(requestContext, enabled.sort());
      const operationContext = buildOperationContext({
        schema: requestContext.schema,
        operationDocument: requestContext.document,
        operationName: requestContext.request.operationName,
      });
      return executeQueryPlan(plan, options.dataSources(), requestContext, operationContext, current.supergraphSchema, current.apiSchema);
    };

  return wrapExecutor(inner, wrap);
}
