import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { OperationTypeNode, getOperationAST, parse } from 'graphql';
import type { DocumentNode } from 'graphql';
import type { Fetcher, FetcherResponse } from '@apollo/utils.fetcher';
import type { Identity } from '../platform/auth/identity.js';
import type { FetchObserver } from '../platform/observability/index.js';
import type { SubgraphBreaker } from './circuit-breaker.js';
import type { GatewayContext } from './context.js';
import type { SubgraphFetchInit } from './subgraph-fetcher.js';
import { SubgraphHttpError, isRetriable } from './subgraph-failure.js';

/**
 * The subgraph fetch stack: every concern of a fetch from the gateway to a subgraph, in one
 * declared order, outermost first. Each step sees the request's facts (`SubgraphFetch`: the
 * subgraph's operation kind from the fetch's own document, the caller from the GatewayContext,
 * the read-your-writes position), which `SubgraphDataSource.process` takes from what
 * @apollo/gateway hands it; nothing decodes the token the gateway signed or reads the body's text
 * to learn what kind of fetch it is (test/fast/fetch-layer.test.ts keeps it so).
 *
 * 1. `entity-cache`: query fetches whose answers the subgraph declared cacheable, per caller for
 *    private ones (gateway/cache/cached-fetcher.ts); a hit skips everything below. Mutations and
 *    read-your-writes fetches go straight through.
 * 2. `dedup`: an identical query fetch (same URL, body and headers, so the same caller) already
 *    on its way waits for that one's answer and gets its own copy (gateway/subgraph-fetch-dedup.ts);
 *    mutations and read-your-writes fetches are always sent.
 * 3. `retries`: bounded, jittered retries of queries only, after a refused/reset connection or a
 *    502/503/504; a mutation is sent once (a retry could apply it twice).
 * 4. `breaker`: the subgraph's circuit breaker around each attempt; a 5xx counts as a failure.
 * 5. `deadline`: the attempt's deadline, queries and mutations apart (SUBGRAPH_TIMEOUTS,
 *    SUBGRAPH_MUTATION_TIMEOUT_MS).
 * 6. `metrics`: `gateway_subgraph_fetch_duration_seconds` and the client span, per attempt on the wire.
 * 7. `http`: undici keep-alive pools, one per subgraph origin, with the connect deadline (gateway/subgraph-fetcher.ts).
 */
export const SUBGRAPH_FETCH_STACK = ['entity-cache', 'dedup', 'retries', 'breaker', 'deadline', 'metrics', 'http'] as const;
export type FetchStepName = (typeof SUBGRAPH_FETCH_STACK)[number];

/** A fetch's operation kind (an `_entities` fetch after a mutation's root fetch is a query). */
export type OperationKind = 'query' | 'mutation' | 'subscription';

/** What the gateway knows about one fetch, from the request it serves. */
export interface FetchFacts {
  subgraph: string;
  /** The subgraph operation's kind, read from its parsed document (the planner's fetch, not the client's operation). */
  operation: OperationKind;
  /** Who is asking, as a cache partition key (null outside a client request: nothing private is kept). */
  caller: string | null;
  /** The client's read-your-writes position at this subgraph: the fetch must reach the subgraph. */
  lsn: string | undefined;
  requestId: string | undefined;
}

/** One fetch on its way down the stack. */
export interface SubgraphFetch extends FetchFacts {
  url: string;
  init: SubgraphFetchInit;
}

export type SendFetch = (fetch: SubgraphFetch) => Promise<FetcherResponse>;
/** One named concern: does its part and hands the fetch to the next step (or answers itself). */
export type FetchStep = (fetch: SubgraphFetch, next: SendFetch) => Promise<FetcherResponse>;

/** The steps, composed in SUBGRAPH_FETCH_STACK's order: each declared step must be given once. */
export function composeFetchStack(steps: Record<Exclude<FetchStepName, 'http'>, FetchStep>, http: SendFetch): SendFetch {
  return SUBGRAPH_FETCH_STACK.slice(0, -1)
    .reverse()
    .reduce<SendFetch>((next, name) => {
      const step = steps[name as Exclude<FetchStepName, 'http'>];
      return (fetch) => step(fetch, next);
    }, http);
}

/** The private-cache partition of a caller: the identity the gateway signs into the service token, from the context. */
export const callerKey = (identity: Identity): string => JSON.stringify([identity.userId, identity.role, identity.scopes]);

/** The facts of one fetch, from the options @apollo/gateway passes to the data source. */
export function fetchFactsOf(subgraph: string, options: GraphQLDataSourceProcessOptions<GatewayContext>): FetchFacts {
  // Health checks and schema loads carry no (or a partial) context.
  const ctx = options.context as Partial<GatewayContext>;
  const document = ('document' in options ? options.document : undefined) ?? fetchDocument(options.request.query);
  return {
    subgraph,
    operation: kindOf(document && operationOf(document, options.request.operationName)?.operation),
    caller: ctx.identity ? callerKey(ctx.identity) : null,
    lsn: ctx.consistency?.lsnFor(subgraph) ?? undefined,
    requestId: ctx.requestId,
  };
}

const operationOf = (document: DocumentNode, name: string | undefined) => getOperationAST(document, name) ?? getOperationAST(document);

/** A fetch without a parsable document counts as a query, as before; the subgraph refuses its text anyway. */
const kindOf = (type: OperationTypeNode | undefined): OperationKind =>
  type === OperationTypeNode.MUTATION ? 'mutation' : type === OperationTypeNode.SUBSCRIPTION ? 'subscription' : 'query';

const parsedFetches = new Map<string, DocumentNode | null>();

/**
 * A fetch's document: the query planner keeps only its text unless `exposeDocumentNodeInFetchNode`
 * (more memory per cached plan), so it is parsed here once per text; a plan's fetch texts are few and reused.
 */
export function fetchDocument(query: string | undefined): DocumentNode | undefined {
  if (!query) return undefined;
  let document = parsedFetches.get(query);
  if (document === undefined) {
    if (parsedFetches.size >= 5_000) parsedFetches.clear();
    try {
      document = parse(query);
    } catch {
      document = null;
    }
    parsedFetches.set(query, document);
  }
  return document ?? undefined;
}

/** Step 3: retries of queries only; a 5xx the breaker counted is handed back as the response, for Apollo's error. */
export function retriesStep(opts: { retries: number; onRetry(): void }): FetchStep {
  const policy = retry(handleWhen(isRetriable), {
    maxAttempts: opts.retries,
    // Decorrelated jitter (cockatiel's default), so gateways do not retry in lockstep.
    backoff: new ExponentialBackoff({ initialDelay: 25, maxDelay: 250 }),
  });
  policy.onRetry(() => opts.onRetry());
  return async (fetch, next) => {
    const attempt = () => next(fetch);
    try {
      return await (fetch.operation === 'mutation' || opts.retries === 0 ? attempt() : policy.execute(attempt));
    } catch (err) {
      if (err instanceof SubgraphHttpError) return err.response;
      throw err;
    }
  };
}

/** Step 4: the breaker around each attempt; a 5xx is thrown inside it so that it counts. */
export const breakerStep =
  (breaker: SubgraphBreaker): FetchStep =>
  (fetch, next) =>
    breaker.execute(async () => {
      const response = await next(fetch);
      if (response.status >= 500) throw new SubgraphHttpError(response);
      return response;
    });

/** Step 5: the attempt's deadline, by operation kind. */
export const deadlineStep =
  (opts: { queryTimeoutMs: number; mutationTimeoutMs: number }): FetchStep =>
  (fetch, next) =>
    next({
      ...fetch,
      init: { ...fetch.init, timeoutMs: fetch.operation === 'mutation' ? opts.mutationTimeoutMs : opts.queryTimeoutMs },
    });

/** Step 6: each attempt on the wire timed (and traced) by platform/observability. */
export const metricsStep =
  (observe: FetchObserver): FetchStep =>
  (fetch, next) =>
    observe(fetch.url, fetch.init, (url, init) => next({ ...fetch, url, init: init ?? {} }));

/** Step 7: the wire. */
export const httpSend =
  (fetcher: Fetcher): SendFetch =>
  (fetch) =>
    fetcher(fetch.url, fetch.init);
