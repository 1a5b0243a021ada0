import { PassThrough } from 'node:stream';
import { GraphQLError, Kind, OperationTypeNode, getOperationAST } from 'graphql';
import type { DocumentNode, GraphQLFormattedError, GraphQLSchema, OperationDefinitionNode, SelectionSetNode } from 'graphql';
import { buildOperationContext, executeQueryPlan } from '@apollo/gateway';
import type { GraphQLDataSource, ServiceMap } from '@apollo/gateway';
import type { GatewayExecutionResult, GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import type { DeferredNode, FetchNode, PlanNode } from '@apollo/query-planner';
import { ErrorCode } from '../../platform/errors.js';
import type { DeferredFragment, DeferredOperation } from './defer-document.js';
import { deferredThroughList, onlyDeferred, withoutDeferred } from './defer-document.js';
import type { DeferPlanning, SeparatePart } from './defer-plan.js';
import { splitPlan } from './defer-plan.js';

/** One subsequent payload of deferSpec=20220824. */
export interface SubsequentPayload {
  incremental?: { data: Record<string, unknown> | null; path: (string | number)[]; label?: string; errors?: GraphQLFormattedError[] }[];
  hasNext: boolean;
}

export interface DeferredResult {
  initial: GatewayExecutionResult;
  /** Absent when nothing was left to defer (the planner could defer none of the fragments). */
  subsequent?: AsyncIterable<SubsequentPayload>;
}

export type FormatError = (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError;

const SEED = '__defer_seed';
const CAPTURE = '__defer_capture';

/*
 * executeQueryPlan (the stock gateway's) always starts from empty data and returns data shaped to
 * the operation, without the keys the planner added for entity fetches. A deferred part needs the
 * primary part's raw data (`__typename`, keys) to build its representations. Two local "services"
 * bridge that without forking the executor: a seed fetch puts the raw data at the root before a
 * part's own fetches, and capture fetches (one per root field, `requires` selecting the field
 * whole) hand the raw data back after them. Each part is then shaped by executeQueryPlan itself
 * against a document holding only that part's fields.
 */
const seedFetch = (): FetchNode => ({
  kind: 'Fetch',
  serviceName: SEED,
  operation: '{__typename}',
  operationName: undefined,
  operationKind: OperationTypeNode.QUERY,
  variableUsages: [],
});
const captureFetch = (key: string): FetchNode => ({
  kind: 'Fetch',
  serviceName: CAPTURE,
  operation: '{__typename}',
  operationName: undefined,
  operationKind: OperationTypeNode.QUERY,
  variableUsages: [],
  requires: [
    { kind: Kind.FIELD, name: '__typename' },
    { kind: Kind.FIELD, name: key },
  ],
});

function rootKeys(set: SelectionSetNode, keys = new Set<string>()): Set<string> {
  for (const s of set.selections) {
    if (s.kind === Kind.FIELD) keys.add(s.alias?.value ?? s.name.value);
    else if (s.kind === Kind.INLINE_FRAGMENT) rootKeys(s.selectionSet, keys);
  }
  return keys;
}

interface Run {
  requestContext: GatewayGraphQLRequestContext;
  operation: OperationDefinitionNode;
  /** Raw data of every root field, shared by all parts of the request (later parts merge into it). */
  raw: Record<string, unknown>;
}

// eslint-disable-next-line max-lines-per-function -- a factory: the length is its returned methods, which share the closure's state; each method is short
export function createDeferExecution(options: {
  planning: () => DeferPlanning;
  schema: () => GraphQLSchema;
  dataSources: () => ServiceMap;
  formatError: FormatError;
}) {
  async function runPart(run: Run, node: PlanNode | undefined, document: DocumentNode): Promise<GatewayExecutionResult> {
    const planning = options.planning();
    const seed: GraphQLDataSource = { process: async () => ({ data: { __typename: rootTypeName(run.operation), ...run.raw } }) };
    const capture: GraphQLDataSource = {
      process: async ({ request }) => {
        const representation = (request.variables?.representations as Record<string, unknown>[] | undefined)?.[0] ?? {};
        for (const [key, value] of Object.entries(representation)) if (key !== '__typename') run.raw[key] = value;
        return { data: { _entities: [{}] } };
      },
    };
    const captures: PlanNode = { kind: 'Parallel', nodes: [...rootKeys(run.operation.selectionSet)].map(captureFetch) };
    const root: PlanNode = { kind: 'Sequence', nodes: [seedFetch(), ...(node ? [node] : []), captures] };
    const operationContext = buildOperationContext({ schema: options.schema(), operationDocument: document });
    const serviceMap = { ...options.dataSources(), [SEED]: seed, [CAPTURE]: capture };
    return executeQueryPlan(
      { kind: 'QueryPlan', node: root },
      serviceMap,
      run.requestContext,
      operationContext,
      planning.supergraphSchema,
      planning.apiSchema,
    );
  }

  return async function executeDeferred(
    requestContext: GatewayGraphQLRequestContext,
    prepared: DeferredOperation,
  ): Promise<DeferredResult> {
    const operation = getOperationAST(prepared.document, null)!;
    const separable = (label: string) =>
      operation.operation === OperationTypeNode.QUERY && !deferredThroughList(options.schema(), prepared.document, label);
    const planned = options.planning().plan(prepared.document, [...prepared.fragments.keys()], separable);
    const run: Run = { requestContext, operation, raw: Object.create(null) as Record<string, unknown> };
    const variables = prepared.variables;
    if (planned.plan.node?.kind === 'Subscription') throw new Error('@defer in a subscription');
    const primary = splitPlan(planned.plan.node, variables);
    const initial = await runPart(run, primary.node, withoutDeferred(planned.document));
    if (primary.deferred.length === 0 && planned.separate.length === 0) return { initial };

    const failed = (fragment: DeferredFragment | undefined, err: unknown): Outcome => {
      const error = new GraphQLError('Internal server error', {
        originalError: err as Error,
        extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
      });
      return {
        payload: [{ data: null, path: fragment?.path ?? [], errors: [options.formatError(error.toJSON(), error)] }],
        fetchIds: [],
        children: [],
      };
    };
    const runDeferred = async (deferred: DeferredNode): Promise<Outcome> => {
      const fragment = prepared.fragments.get(deferred.label ?? '');
      const split = splitPlan(deferred.node, variables);
      try {
        if (!fragment) throw new Error(`deferred node without a known label: ${deferred.label}`);
        const result = await runPart(run, split.node, onlyDeferred(planned.document, fragment.label));
        return { payload: toIncremental(fragment, result, options.formatError), fetchIds: split.fetchIds, children: split.deferred };
      } catch (err) {
        return { ...failed(fragment, err), fetchIds: split.fetchIds };
      }
    };
    // A fragment run as its own operation reads everything afresh (its own raw data).
    const runSeparate = async (part: SeparatePart): Promise<Outcome> => {
      const fragment = prepared.fragments.get(part.label);
      try {
        const own: Run = { requestContext, operation, raw: Object.create(null) as Record<string, unknown> };
        // A query plan (only queries run separately), never a subscription.
        const result = await runPart(own, splitPlan(part.plan.node as PlanNode | undefined, variables).node, part.document);
        return { payload: toIncremental(fragment!, result, options.formatError), fetchIds: [], children: [] };
      } catch (err) {
        return failed(fragment, err);
      }
    };
    const subsequent = streamParts({
      doneFetchIds: primary.fetchIds,
      deferred: primary.deferred,
      separate: planned.separate.map((part) => () => runSeparate(part)),
      runDeferred,
    });
    return { initial, subsequent };
  };
}

interface Outcome {
  payload: NonNullable<SubsequentPayload['incremental']>;
  /** The part's own fetches, now run (parts nested in it may depend on them). */
  fetchIds: string[];
  /** Deferred parts met inside this one. */
  children: DeferredNode[];
}

/**
 * Runs the deferred parts, each once every fetch it `depends` on has run, and writes one payload
 * per completed part, in completion order; the last says hasNext: false.
 */
function streamParts(start: {
  doneFetchIds: string[];
  deferred: DeferredNode[];
  separate: (() => Promise<Outcome>)[];
  runDeferred: (d: DeferredNode) => Promise<Outcome>;
}): AsyncIterable<SubsequentPayload> {
  const stream = new PassThrough({ objectMode: true });
  const done = new Set(start.doneFetchIds);
  const waiting: DeferredNode[] = [];
  let pending = 0;
  const launch = (task: () => Promise<Outcome>) => {
    pending++;
    void task().then(({ payload, fetchIds, children }) => {
      for (const id of fetchIds) done.add(id);
      pending--;
      children.forEach(schedule);
      for (const w of waiting.splice(0)) schedule(w);
      // Parts still waiting on fetches that never ran (a plan we misread) are run anyway, not dropped.
      if (pending === 0) waiting.splice(0).forEach((w) => launch(() => start.runDeferred(w)));
      stream.write({ incremental: payload, hasNext: pending > 0 } satisfies SubsequentPayload);
      if (pending === 0) stream.end();
    });
  };
  const schedule = (deferred: DeferredNode) =>
    deferred.depends.every((d) => done.has(d.id)) ? launch(() => start.runDeferred(deferred)) : waiting.push(deferred);
  start.deferred.forEach(schedule);
  start.separate.forEach(launch);
  if (pending === 0) waiting.splice(0).forEach((w) => launch(() => start.runDeferred(w)));
  return stream;
}

function rootTypeName(operation: OperationDefinitionNode): string {
  return operation.operation === OperationTypeNode.MUTATION ? 'Mutation' : 'Query';
}

/** One item per object at the fragment's path (a path through lists names each element); the part's errors ride on the first. */
function toIncremental(
  fragment: DeferredFragment,
  result: GatewayExecutionResult,
  formatError: FormatError,
): NonNullable<SubsequentPayload['incremental']> {
  const items: NonNullable<SubsequentPayload['incremental']> = [];
  const visit = (value: unknown, rest: string[], path: (string | number)[]) => {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) value.forEach((v, i) => visit(v, rest, [...path, i]));
    else if (rest.length === 0) items.push({ data: value as Record<string, unknown>, path });
    else visit((value as Record<string, unknown>)[rest[0]!], rest.slice(1), [...path, rest[0]!]);
  };
  visit(result.data, fragment.path, []);
  const label = fragment.userLabel !== undefined ? { label: fragment.userLabel } : {};
  const errors = result.errors?.map((e) => {
    const formatted = e instanceof GraphQLError ? e.toJSON() : { message: (e as Error).message };
    const extensions = { ...formatted.extensions, code: formatted.extensions?.code ?? ErrorCode.INTERNAL_SERVER_ERROR };
    return formatError({ ...formatted, extensions }, e);
  });
  if (items.length === 0) return errors ? [{ data: null, path: fragment.path, ...label, errors }] : [];
  return items.map((item, i) => ({ ...item, ...label, ...(i === 0 && errors ? { errors } : {}) }));
}
