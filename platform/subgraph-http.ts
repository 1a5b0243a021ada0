import { sendErrors } from './http.js';
import { INVALID, readJsonBody } from './json-body.js';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { HeaderMap } from '@apollo/server';
import type { ApolloServer, BaseContext, HTTPGraphQLRequest } from '@apollo/server';
import type { Logger } from './logger.js';
import { requestIdOf } from './http.js';
import { serverSpan } from './observability/tracing.js';

/**
 * A subgraph's `/graphql` on plain `node:http`, in front of the express app that serves the rest
 * (health, internal routes, extra routes). Only the gateway calls `/graphql`, many times per
 * client request, so it skips what express adds there (router, body-parser, etag, the Apollo
 * integration's request translation): measured, that was ~14% of a subgraph's CPU per fetch. It
 * does what Apollo's own standalone handler does (HeaderMap in, executeHTTPGraphQLRequest, status,
 * headers and body out) with the rules the express stack enforced: a 2 MB body cap (413), JSON
 * only when the content type says so, a malformed body is 400, never a stack trace.
 */

export const GRAPHQL_PATH = '/graphql';
const BODY_LIMIT_BYTES = 2 * 1024 * 1024;

export interface GraphqlHandlerOptions<C extends BaseContext> {
  service: string;
  apollo: ApolloServer<C>;
  log: Logger;
  /**
   * Builds the request's context, or answers the request itself (e.g. 401) and returns undefined.
   * Runs before the body is read, so a request without a valid token costs no parsing.
   */
  context(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<C | undefined>;
  /** Runs the request inside something (a request scope): must call `next` exactly once. */
  scope?(requestId: string, next: () => void): void;
}

/** `{ errors: [...] }` with one error and no internals (platform/http.ts sendErrors, on plain node:http). */
export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  code: string,
  extensions: Record<string, unknown> = {},
): void {
  sendErrors(res, status, { message, extensions: { code, ...extensions } });
}

/** Routes `/graphql` (with or without a query string) to `graphql`, everything else to `rest`. */
export function routeGraphql(graphql: RequestListener, rest: RequestListener): RequestListener {
  return (req, res) => {
    const url = req.url ?? '';
    const isGraphql = url.startsWith(GRAPHQL_PATH) && (url.length === GRAPHQL_PATH.length || url[GRAPHQL_PATH.length] === '?');
    if (isGraphql) graphql(req, res);
    else rest(req, res);
  };
}

export function createGraphqlHandler<C extends BaseContext>(opts: GraphqlHandlerOptions<C>): RequestListener {
  const inSpan = serverSpan(opts.service);
  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string) => {
    const contextValue = await opts.context(req, res, requestId);
    if (!contextValue) return;
    const body = await readGraphqlBody(req, res);
    if (body === INVALID) return;
    const response = await opts.apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: toApolloRequest(req, body),
      context: async () => contextValue,
    });
    for (const [key, value] of response.headers) res.setHeader(key, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') return void res.end(response.body.string);
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  };
  return (req, res) => {
    const requestId = requestIdOf(req, res);
    const run = () =>
      inSpan(req, res, GRAPHQL_PATH, requestId, () => {
        handle(req, res, requestId).catch((err: unknown) => {
          opts.log.error({ err, requestId }, 'unhandled error on /graphql');
          sendError(res, 500, 'Internal server error', 'INTERNAL_SERVER_ERROR', { requestId });
        });
      });
    if (opts.scope) opts.scope(requestId, run);
    else run();
  };
}

function toApolloRequest(req: IncomingMessage, body: unknown): HTTPGraphQLRequest {
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return { method: (req.method ?? 'GET').toUpperCase(), headers, search: q < 0 ? '' : url.slice(q), body };
}

const isJson = (type: string | undefined) => /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type ?? '');

/**
 * The parsed JSON body (undefined without one or when it is not JSON: Apollo answers 400 for a
 * POST like that), or INVALID once a 415/413/400 has been sent.
 */
async function readGraphqlBody(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
  if (req.method === 'GET' || req.method === 'HEAD') return undefined;
  const encoding = req.headers['content-encoding'];
  if (encoding && encoding !== 'identity') {
    sendError(res, 415, 'Compressed request bodies are not accepted.', 'BAD_REQUEST');
    return INVALID;
  }
  // A body that is not JSON is still read under the cap (413), then left for Apollo to refuse.
  return readJsonBody(req, res, { limitBytes: BODY_LIMIT_BYTES, discard: !isJson(req.headers['content-type']) });
}
