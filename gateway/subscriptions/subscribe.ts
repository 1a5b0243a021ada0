import { randomUUID } from 'node:crypto';
import { GraphQLError, getOperationAST } from 'graphql';
import type { DocumentNode, ExecutionResult, GraphQLSchema } from 'graphql';
import type { ApolloServer } from '@apollo/server';
import type { Identity } from '../../platform/auth/identity.js';
import { ErrorCode, appError, isPublicError } from '../../platform/errors.js';
import type { EventBus } from '../../platform/events/bus.js';
import { nulCharacterError } from '../../platform/input-rules.js';
import type { Logger } from '../../platform/logger.js';
import { authorizeOperation } from '../authorization/authorize-operation.js';
import type { Policy } from '../authorization/policies.js';
import type { ClientInfo, GatewayContext } from '../request.js';
import type { CostCeiling } from '../limits/cost-budget.js';
import { planSubscription } from './event-query.js';
import { openEventStream } from './event-stream.js';
import type { Subscriber } from './event-stream.js';
import type { SubscriptionFields } from './fields.js';
import type { LiveEvents } from './live-events.js';

export interface SubscribeRequest {
  schema: GraphQLSchema;
  /** Parsed and validated by the transport (graphql-ws, or the HTTP handler). */
  document: DocumentNode;
  operationName?: string | null | undefined;
  variables: Record<string, unknown>;
  subscriber: Subscriber;
}

/** A stream of results, or one result with the errors that refused the subscription. */
export type SubscribeOutcome = AsyncIterableIterator<ExecutionResult> | ExecutionResult;

export type SubscriptionCore = ReturnType<typeof createSubscriptionCore>;

/** Who runs the per-event queries of subscriptions (metrics label; the subscriber's identity still applies). */
const EVENT_CLIENT: ClientInfo = { name: 'subscription', version: null, partnerId: null };

/** Runs one operation through the gateway's own pipeline (Apollo executeOperation) as the given caller. */
function createOperationRunner(apollo: ApolloServer<GatewayContext>) {
  return async (
    query: string,
    variables: Record<string, unknown>,
    identity: Identity,
    clientIp?: string,
    client: ClientInfo = EVENT_CLIENT,
  ): Promise<ExecutionResult> => {
    const response = await apollo.executeOperation(
      { query, variables },
      { contextValue: { identity, requestId: randomUUID(), client, ...(clientIp ? { clientIp } : {}) } },
    );
    if (response.body.kind !== 'single') throw new Error('incremental delivery is not supported here');
    const { errors, ...result } = response.body.singleResult;
    // Apollo hands back formatted (plain) errors; graphql-ws serializes GraphQLErrors (toJSON).
    return errors
      ? { ...result, errors: errors.map((e) => new GraphQLError(e.message, { path: e.path, extensions: e.extensions })) }
      : result;
  };
}

/**
 * What every subscription transport shares (WebSocket, HTTP multipart, SSE): subscribe →
 * authorize → replay → live, and the per-event query through the gateway's own pipeline. A
 * transport only parses, validates, identifies the caller and frames what comes out.
 */
export function createSubscriptionCore(deps: {
  apollo: ApolloServer<GatewayContext>;
  bus: EventBus;
  live: LiveEvents;
  log: Logger;
  fields: () => SubscriptionFields; // the loaded supergraph's @event fields (open subscriptions keep their plan)
  /** The supergraph's @authenticated / @requiresScopes (of the supergraph `schema` came from), checked on the subscription itself. */
  policies?: (schema: GraphQLSchema) => Map<string, Policy>;
  /** The static cost ceiling, as HTTP requests meet it (an operation's cost does not depend on its transport). */
  costCeiling?: CostCeiling;
  /** Events buffered for one slow subscriber before it is cut off. */
  maxQueuedEvents: number;
}) {
  const { apollo, log } = deps;

  const execute = createOperationRunner(apollo);

  /**
   * One execution per (event, document, variables, caller): a thousand anonymous watchers of one
   * product cost one query per stock change, not a thousand. Entries live only while the event fans out.
   */
  const shared = new Map<string, Promise<ExecutionResult>>();
  const runEventQuery = (query: string, variables: Record<string, unknown>, identity: Identity, eventId: string) => {
    const key = `${eventId}\n${identity.userId ?? ''}|${identity.role ?? ''}|${identity.scopes.join(' ')}\n${query}\n${JSON.stringify(variables)}`;
    let pending = shared.get(key);
    if (!pending) {
      pending = execute(query, variables, identity);
      shared.set(key, pending);
      setTimeout(() => shared.delete(key), 5_000).unref();
    }
    return pending;
  };

  const asErrors = (err: unknown): readonly GraphQLError[] => [
    isPublicError(err)
      ? err
      : (log.error({ err }, 'subscription failed'), appError(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error')),
  ];

  /**
   * A subscription field the caller may not use (its own @authenticated / @requiresScopes) refuses
   * the subscription, with the code a query would get. Fields inside the payload are filtered per
   * event by the query pipeline, as in any query.
   */
  const denial = (req: SubscribeRequest): GraphQLError | undefined => {
    const policies = deps.policies?.(req.schema);
    const { identity } = req.subscriber;
    const caller = { authenticated: identity.userId !== null, scopes: new Set(identity.scopes) };
    return !policies?.size
      ? undefined
      : authorizeOperation(req.schema, req.document, req.operationName ?? null, policies, caller).errors.find((e) => e.path?.length === 1);
  };

  const tooCostly = (req: SubscribeRequest): GraphQLError | undefined => {
    const operation = getOperationAST(req.document, req.operationName ?? null);
    return operation ? deps.costCeiling?.(req.schema, req.document, operation, req.variables).refusal : undefined;
  };

  async function subscribe(req: SubscribeRequest): Promise<SubscribeOutcome> {
    try {
      const nul = nulCharacterError(req.document, req.variables);
      if (nul) return { errors: [nul] };
      const denied = denial(req) ?? tooCostly(req);
      if (denied) return { errors: [denied] };
      const plan = planSubscription(deps.fields(), req.schema, req.document, req.operationName, req.variables);
      return await openEventStream(plan, req.subscriber, {
        bus: deps.bus,
        live: deps.live,
        runQuery: runEventQuery,
        maxQueue: deps.maxQueuedEvents,
        replayPageSize: 500,
      });
    } catch (err) {
      return { errors: asErrors(err) };
    }
  }

  return { subscribe, execute, asErrors };
}

export const isEventStream = (outcome: SubscribeOutcome): outcome is AsyncIterableIterator<ExecutionResult> =>
  Symbol.asyncIterator in outcome;
