import { AsyncLocalStorage } from 'node:async_hooks';
import { RemoteGraphQLDataSource } from '@apollo/gateway';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayGraphQLRequest, GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import type { Fetcher, FetcherResponse } from '@apollo/utils.fetcher';
import { INTERNAL_TOKEN_HEADER } from '../platform/auth/service-token.js';
import type { ServiceTokenSigner } from '../platform/auth/service-token.js';
import { REQUEST_ID_HEADER } from '../platform/http.js';
import { CONSISTENCY_LSN_HEADER } from '../platform/lsn.js';
import type { GatewayContext } from './context.js';
import { noteSubgraphAnswer } from './cache/response-cache.js';
import { fetchDocument, fetchFactsOf } from './subgraph-fetch-stack.js';
import type { FetchFacts, SendFetch } from './subgraph-fetch-stack.js';
import type { SubgraphFetchInit } from './subgraph-fetcher.js';
import { failureReason, fetchFailureErrors } from './subgraph-failure.js';
import type { FailureReason } from './subgraph-failure.js';

/** A fetch failed for good (after retries): metrics and the log. */
export type OnFetchFailure = (reason: FailureReason, err: unknown, requestId: string | undefined) => void;

/**
 * The facts of the fetch in flight, from `process` to the fetcher @apollo/gateway calls inside it:
 * RemoteGraphQLDataSource hands its fetcher only (url, init), and one data source serves many
 * requests at once, so the request's facts ride the async context of that one call.
 */
const inFlight = new AsyncLocalStorage<FetchFacts>();

/**
 * How the gateway calls a subgraph: through the subgraph fetch stack (gateway/subgraph-fetch-stack.ts:
 * entity cache, retries of queries, breaker, deadlines, metrics, the wire), which `process` gives
 * the request's facts, with a service token that carries the caller's identity. The client's own
 * headers are never forwarded, so nothing a client sends can pose as the gateway.
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
    stack: SendFetch,
  ) {
    super({
      url,
      fetcher: (url, init) => {
        const facts = inFlight.getStore();
        if (!facts) throw new Error(`subgraph ${name}: a fetch outside SubgraphDataSource.process`);
        return stack({ ...facts, url, init: init ?? {} });
      },
    });
  }

  override async willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>) {
    // Health checks and other calls outside a client request carry no (or a partial) context.
    const ctx = context as Partial<GatewayContext>;
    if (!ctx.identity) return;
    request.http?.headers.set(INTERNAL_TOKEN_HEADER, await this.signer.sign(ctx.identity));
    if (ctx.requestId) request.http?.headers.set(REQUEST_ID_HEADER, ctx.requestId);
    // Read-your-writes: this subgraph's position from the client's token (and this request's writes so far),
    // the same the stack was told (the entity cache lets such a fetch through).
    const lsn = inFlight.getStore()?.lsn;
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
    const facts = fetchFactsOf(this.name, options);
    try {
      return await inFlight.run(facts, () => super.process(options));
    } catch (err) {
      const reason = failureReason(err);
      // Only a client operation's fetch (not a health check or a schema load) is answered with errors.
      if (!reason || !('document' in options)) throw err;
      this.onFailure(reason, err, facts.requestId);
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

/**
 * RemoteGraphQLDataSource's own (private) sendRequest, without the node-fetch `Request` it builds
 * for every fetch only to pass to didEncounterError and parseBody, neither of which reads it here
 * (not overridden): that object (URL parsing, header copies) was ~3% of the gateway's CPU in the
 * bench. Same steps, same errors, same response otherwise.
 */
async function sendRequest(
  this: SubgraphDataSource,
  request: GatewayGraphQLRequest,
  context: GatewayContext,
): Promise<GatewayGraphQLResponse> {
  const { http, ...withoutHttp } = request;
  if (!http) throw new Error("Internal error: Only 'http' requests are supported.");
  const init: SubgraphFetchInit = {
    method: http.method,
    headers: Object.fromEntries(http.headers),
    body: JSON.stringify(withoutHttp),
    request: withoutHttp,
  };
  let response: FetcherResponse | undefined;
  try {
    response = await this.fetcher(http.url, init);
    if (!response.ok) throw await this.errorFromResponse(response);
    const body: unknown = await this.parseBody(response);
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new Error(`Expected JSON response body, but received: ${String(body)}`);
    return { ...body, http: response };
  } catch (error) {
    this.didEncounterError(error as Error, undefined as never, response, context, request);
    throw error;
  }
}
(SubgraphDataSource.prototype as unknown as { sendRequest: typeof sendRequest }).sendRequest = sendRequest;
