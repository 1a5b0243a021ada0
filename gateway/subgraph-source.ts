import { RemoteGraphQLDataSource } from '@apollo/gateway';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import type { Fetcher, FetcherResponse } from '@apollo/utils.fetcher';
import { ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import { parse } from 'graphql';
import type { DocumentNode } from 'graphql';
import { INTERNAL_TOKEN_HEADER } from '../platform/auth/service-token.js';
import type { ServiceTokenSigner } from '../platform/auth/service-token.js';
import { REQUEST_ID_HEADER } from '../platform/http.js';
import { CONSISTENCY_LSN_HEADER } from '../platform/lsn.js';
import type { SubgraphBreaker } from './circuit-breaker.js';
import type { GatewayContext } from './context.js';
import { noteSubgraphAnswer } from './cache/response-cache.js';
import { createSubgraphFetcher } from './subgraph-fetcher.js';
import type { SubgraphFetchInit } from './subgraph-fetcher.js';
import { SubgraphHttpError, failureReason, fetchFailureErrors, isRetriable } from './subgraph-failure.js';
import type { FailureReason } from './subgraph-failure.js';

/** How one subgraph is called when it misbehaves (gateway/subgraph-registry.ts builds it from config). */
export interface SubgraphResilience {
  queryTimeoutMs: number;
  mutationTimeoutMs: number;
  /** Extra attempts of a query after a refused / reset connection or a 502/503/504. */
  retries: number;
  breaker: SubgraphBreaker;
  onRetry(): void;
}

/** A fetch failed for good (after retries): metrics and the log. */
export type OnFetchFailure = (reason: FailureReason, err: unknown, requestId: string | undefined) => void;

/**
 * The fetcher of one subgraph, made resilient: the deadline (queries and mutations apart), the
 * breaker around each attempt, and bounded retries of queries only. Whether a fetch is a mutation
 * is read off the body @apollo/gateway sends, whose first member is the operation text
 * (`{"query":"mutation …`): a 5xx answer is thrown inside the breaker (so it counts) and handed
 * back after it, for RemoteGraphQLDataSource to turn into its error.
 */
export function createResilientFetcher(fetcher: Fetcher, resilience: SubgraphResilience): Fetcher {
  const retryPolicy = retry(handleWhen(isRetriable), {
    maxAttempts: resilience.retries,
    // Decorrelated jitter (cockatiel's default), so gateways do not retry in lockstep.
    backoff: new ExponentialBackoff({ initialDelay: 25, maxDelay: 250 }),
  });
  retryPolicy.onRetry(() => resilience.onRetry());
  return async (url, init) => {
    const mutation = typeof init?.body === 'string' && init.body.startsWith('{"query":"mutation');
    const timeoutMs = mutation ? resilience.mutationTimeoutMs : resilience.queryTimeoutMs;
    const attempt = () =>
      resilience.breaker.execute(async () => {
        const response = await fetcher(url, { ...init, timeoutMs } as SubgraphFetchInit);
        if (response.status >= 500) throw new SubgraphHttpError(response);
        return response;
      });
    try {
      return await (mutation || resilience.retries === 0 ? attempt() : retryPolicy.execute(attempt));
    } catch (err) {
      if (err instanceof SubgraphHttpError) return err.response;
      throw err;
    }
  };
}

/**
 * How the gateway calls a subgraph: through the fetcher it is given (createResilientFetcher above:
 * deadlines, retries of queries, the circuit breaker), with a service token that carries the
 * caller's identity. The client's own headers are never
 * forwarded, so nothing a client sends can pose as the gateway.
 *
 * A fetch that fails (refused, timed out, 5xx, breaker open) does not fail the operation: it is
 * answered as if the subgraph had sent `SUBREQUEST_HTTP_ERROR` errors at the fields it would have
 * resolved, so @apollo/gateway nulls those fields (up to the nearest nullable parent) and serves
 * the rest.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  constructor(
    private readonly name: string,
    url: string,
    private readonly signer: ServiceTokenSigner,
    private readonly onFailure: OnFetchFailure,
    fetcher: Fetcher,
  ) {
    super({ url, fetcher });
  }

  override async willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>) {
    // Health checks and other calls outside a client request carry no (or a partial) context.
    const ctx = context as Partial<GatewayContext>;
    if (!ctx.identity) return;
    request.http?.headers.set(INTERNAL_TOKEN_HEADER, await this.signer.sign(ctx.identity));
    if (ctx.requestId) request.http?.headers.set(REQUEST_ID_HEADER, ctx.requestId);
    // Read-your-writes: this subgraph's position from the client's token (and this request's writes so far).
    const lsn = ctx.consistency?.lsnFor(this.name);
    if (lsn) request.http?.headers.set(CONSISTENCY_LSN_HEADER, lsn);
  }

  override async didReceiveResponse({
    response,
    context,
  }: Parameters<NonNullable<RemoteGraphQLDataSource<GatewayContext>['didReceiveResponse']>>[0]) {
    if ('consistency' in context) context.consistency?.absorb(response.http?.headers.get(CONSISTENCY_LSN_HEADER));
    // The response cache: whether this answer was public, for how long, and which entities it held.
    noteSubgraphAnswer(context, response.http?.headers);
    return response;
  }

  override async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<GatewayGraphQLResponse> {
    try {
      return await super.process(options);
    } catch (err) {
      const reason = failureReason(err);
      // Only a client operation's fetch (not a health check or a schema load) is answered with errors.
      if (!reason || !('document' in options)) throw err;
      const requestId = 'requestId' in options.context ? options.context.requestId : undefined;
      this.onFailure(reason, err, requestId);
      return {
        errors: fetchFailureErrors(
          this.name,
          reason,
          options.document ?? fetchDocument(options.request.query),
          options.request.variables?.representations,
        ),
      };
    }
  }

  /** The breaker's half-open test: the subgraph's readiness (its primary database answers). */
  async probe(fetcher: Fetcher, timeoutMs: number): Promise<void> {
    const response: FetcherResponse = await fetcher(new URL('/health/ready', this.url).toString(), {
      method: 'GET',
      timeoutMs,
    } as SubgraphFetchInit);
    if (!response.ok) throw await this.errorFromResponse(response);
  }
}

const parsedFetches = new Map<string, DocumentNode | undefined>();

/**
 * The fetch operation's document, for the paths of a failed fetch: the query planner keeps only
 * its text unless `exposeDocumentNodeInFetchNode`, so it is parsed here, on failures only, once per text.
 */
function fetchDocument(query: string | undefined): DocumentNode | undefined {
  if (!query) return undefined;
  if (!parsedFetches.has(query)) {
    if (parsedFetches.size >= 1_000) parsedFetches.clear();
    let document: DocumentNode | undefined;
    try {
      document = parse(query);
    } catch {
      document = undefined;
    }
    parsedFetches.set(query, document);
  }
  return parsedFetches.get(query);
}

/** The fetcher a subgraph's data source uses: node:http keep-alive, measured cheaper (gateway/subgraph-fetcher.ts). */
export const createSourceFetcher = (timeoutMs: number, connectTimeoutMs: number): Fetcher =>
  createSubgraphFetcher({ timeoutMs, connectTimeoutMs });
