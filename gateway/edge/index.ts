import { Counter } from 'prom-client';
import { GraphQLError, specifiedRules, validate } from 'graphql';
import type { DocumentNode, GraphQLSchema, ParseOptions, ValidationRule } from 'graphql';
import type { ServiceMetrics } from '../../platform/observability/index.js';
import { createIdentify, invalidApiKeyError } from '../identity/index.js';
import type { Caller } from '../identity/index.js';
import type { Limits } from '../limits/index.js';
import type { PersistedQueries } from '../persisted-queries/index.js';
import { requestedOperationOf } from '../persisted-queries/requested-operation.js';
import type { RequestedOperation } from '../persisted-queries/requested-operation.js';
import type { ClientInfo, EdgeRequest } from '../request.js';
import type { ClientAuth } from '../identity/index.js';

/**
 * The gateway's edge, for every transport: what the caller is and whether an operation may run is
 * decided here, in one declared order, and the HTTP middleware (gateway/edge/http.ts, which the
 * multipart and SSE streams sit behind), the WebSocket server (subscriptions/ws-server.ts) and
 * Apollo's own options all take it from this one object. A step added to EDGE_STEPS holds on every
 * transport, and test/fast/edge-refusals.test.ts refuses through each step over each of them.
 *
 * What needs Apollo's parsed and planned operation (trusted documents, operation cost budgets,
 * sign-in attempts, the response cache, @defer) stays an Apollo plugin (gateway/server.ts edgeParts).
 */

/**
 * The declared order. `caller` steps run once per HTTP request or WebSocket connection;
 * `operation` steps once per operation (an HTTP request, each WebSocket subscribe). The operation's
 * shape (graphql-armor's depth, aliases, cost ceiling...) runs last, where each transport parses and
 * validates the document, with the rules of `Edge.validate`.
 */
export const EDGE_STEPS = [
  // Partner API key (an unknown or revoked one is refused: 401, WebSocket 4403), user token, client name, address.
  { name: 'identity', per: 'caller' },
  // Trusted documents: an enforced client runs only what its manifest lists (404/403, PERSISTED_QUERY_NOT_IN_LIST).
  { name: 'safelist', per: 'operation' },
  // Request counts per partner, user or address (429 RATE_LIMITED), before anything parses or plans.
  { name: 'admission', per: 'operation' },
] as const;

export type EdgeStepName = (typeof EDGE_STEPS)[number]['name'];
export type EdgeTransport = 'http' | 'multipart' | 'sse' | 'websocket';

/** An edge step's no: the HTTP status (a WebSocket answers the error alone) and the one error. */
export interface Refusal {
  step: EdgeStepName;
  status: number;
  error: GraphQLError;
  headers?: Record<string, string>;
}

/** What the operation steps decided: headers to answer with (RateLimit), and the refusal if any. */
export interface OperationAdmission {
  headers: Record<string, string>;
  refusal?: Refusal;
}

export interface Edge {
  /** The step names in the order every transport runs them. */
  readonly steps: readonly EdgeStepName[];
  /** The caller steps: who this request or connection is. */
  admitCaller(caller: Caller, transport: EdgeTransport): Promise<{ edge: EdgeRequest } | { refusal: Refusal }>;
  /** The operation steps, for one operation's GraphQL parameters ({ query, extensions, operationName }). */
  admitOperation(edge: EdgeRequest, params: unknown, transport: EdgeTransport): Promise<OperationAdmission>;
  /** The operation's shape, for Apollo (HTTP) and the subscription transports' own parse and validate. */
  readonly validationRules: readonly ValidationRule[];
  readonly parseOptions: ParseOptions;
  /** Errors of a document against the schema: graphql's rules and the edge's shape rules. */
  validate(schema: GraphQLSchema, document: DocumentNode): readonly GraphQLError[];
  /** The text of a trusted document sent by id alone, from the caller's own list. */
  documentById(client: ClientInfo, id: string): string | undefined;
  /** Aborted when this partner key is revoked: long-lived operations opened with it end. */
  revocationOf(partnerId: string): AbortSignal;
}

export interface EdgeDeps {
  auth: ClientAuth;
  persisted: PersistedQueries;
  limits: Limits;
  metrics: ServiceMetrics;
}

type StepOf<Per extends string> = Extract<(typeof EDGE_STEPS)[number], { per: Per }>['name'];
type StepRefusal = Omit<Refusal, 'step'>;
/** A caller step: builds on what the steps before decided about the caller (undefined before the first). */
type CallerStep = (caller: Caller, edge: EdgeRequest | undefined) => Promise<EdgeRequest | StepRefusal>;
type OperationStep = (
  edge: EdgeRequest,
  operation: RequestedOperation,
) => Promise<{ headers?: Record<string, string>; refusal?: StepRefusal }>;

/** Each declared step's implementation; the types make a step declared without one (or the reverse) a compile error. */
function createSteps(deps: EdgeDeps): {
  caller: Record<StepOf<'caller'>, CallerStep>;
  operation: Record<StepOf<'operation'>, OperationStep>;
} {
  const identify = createIdentify({ auth: deps.auth, clientOf: deps.persisted.clientOf });
  return {
    caller: {
      identity: async (caller) => (await identify(caller)) ?? { status: 401, error: invalidApiKeyError() },
    },
    operation: {
      safelist: async (edge, operation) => {
        const refused = deps.persisted.check(edge.client, operation, edge.requestId);
        if (!refused) return {};
        return {
          refusal: { status: refused.status, error: new GraphQLError(refused.error.message, { extensions: refused.error.extensions }) },
        };
      },
      admission: (edge) => deps.limits.countRequest(edge),
    },
  };
}

/** The edge's steps in EDGE_STEPS order, over whichever transport calls; refusals counted by step and transport. */
export function createEdge(deps: EdgeDeps): Edge {
  const steps = createSteps(deps);
  const refusals = new Counter({
    name: 'gateway_edge_refusals_total',
    help: 'Requests and operations the edge refused, by step and transport.',
    labelNames: ['step', 'transport'] as const,
    registers: [deps.metrics.registry],
  });
  const refused = (step: EdgeStepName, transport: EdgeTransport, refusal: StepRefusal): Refusal => {
    refusals.inc({ step, transport });
    return { step, ...refusal };
  };
  const rules = [...specifiedRules, ...deps.limits.validationRules];
  return {
    steps: EDGE_STEPS.map((s) => s.name),
    async admitCaller(caller, transport) {
      let edge: EdgeRequest | undefined;
      for (const { name, per } of EDGE_STEPS) {
        if (per !== 'caller') continue;
        const outcome = await steps.caller[name](caller, edge);
        if (!('requestId' in outcome)) return { refusal: refused(name, transport, outcome) };
        edge = outcome;
      }
      return { edge: edge! };
    },
    async admitOperation(edge, params, transport) {
      const operation = requestedOperationOf(params);
      const headers: Record<string, string> = {};
      for (const { name, per } of EDGE_STEPS) {
        if (per !== 'operation') continue;
        const outcome = await steps.operation[name](edge, operation);
        Object.assign(headers, outcome.headers);
        if (outcome.refusal) return { headers, refusal: refused(name, transport, outcome.refusal) };
      }
      return { headers };
    },
    validationRules: deps.limits.validationRules,
    parseOptions: deps.limits.parseOptions,
    validate: (schema, document) => validate(schema, document, rules),
    documentById: (client, id) => deps.persisted.documentById(client, id),
    revocationOf: (partnerId) => deps.persisted.revocationOf(partnerId),
  };
}
