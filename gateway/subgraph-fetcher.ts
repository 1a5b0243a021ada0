import type http from 'node:http';
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';
import type { Fetcher, FetcherResponse } from '@apollo/utils.fetcher';

/**
 * The gateway's fetch to subgraphs over undici's keep-alive pools, instead of the global fetch or
 * node:http. Measured (see docs/benchmarks.md): the global fetch spent a large part of the gateway's
 * CPU in web streams and per-call AbortSignal timers, node:http's ClientRequest most of the rest; here
 * the body is read as one buffer and one timer bounds the exchange. Same contract as the Fetcher
 * Apollo expects.
 */
export interface SubgraphFetcherOptions {
  /** Deadline of one exchange unless the call names its own. */
  timeoutMs: number;
  /** Deadline of opening a new connection (a pooled one is already open), within the exchange's. */
  connectTimeoutMs?: number;
}

/** A fetch's init, plus a deadline of its own (queries and mutations get different ones). */
export type SubgraphFetchInit = Parameters<Fetcher>[1] & {
  timeoutMs?: number;
  /** The body before JSON.stringify (the GraphQL request the data source sends), for steps that read it: no parse of `body`. */
  request?: Readonly<Record<string, unknown>>;
};

/** Thrown when a fetch passes its deadline, or its connect deadline (a blackholed host). */
export class SubgraphTimeoutError extends Error {
  override name = 'TimeoutError';
  constructor(
    readonly timeoutMs: number,
    what = 'request',
  ) {
    super(`subgraph ${what} timed out after ${timeoutMs} ms`);
  }
}

/**
 * The response as @apollo/utils.fetcher's FetcherResponse, the structural contract Apollo defines
 * so that any fetch implementation can serve it (node-fetch, make-fetch-happen, ...): implementing
 * it is the public path. Not a WHATWG `Response`: `new Response(buffer)` wraps the buffer in a web
 * ReadableStream that `text()` reads back through the stream machinery, the per-call cost this
 * module exists to avoid; the headers are a read view of Node's own object for the same reason
 * (Apollo only reads them), hence the one cast. The body may be given as a function that makes
 * it, called (once) only if something reads the bytes: an answer the entity cache assembled is
 * handed on parsed (withParsedBody), and usually nothing reads its text.
 */
export function respond(
  url: string,
  status: number,
  statusText: string,
  headers: http.IncomingHttpHeaders,
  body: Buffer | (() => Buffer),
): FetcherResponse {
  let used = false;
  let made: Buffer | undefined = typeof body === 'function' ? undefined : body;
  const bytes = () => (made ??= (body as () => Buffer)());
  const text = async () => {
    used = true;
    return bytes().toString('utf8');
  };
  const response: FetcherResponse = {
    get bodyUsed() {
      return used;
    },
    ok: status >= 200 && status < 300,
    redirected: false,
    status,
    statusText,
    url,
    headers: {
      get: (name: string) => {
        const v = headers[name.toLowerCase()];
        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
      },
      has: (name: string) => headers[name.toLowerCase()] !== undefined,
      *[Symbol.iterator]() {
        for (const [k, v] of Object.entries(headers))
          if (v !== undefined) yield [k, Array.isArray(v) ? v.join(', ') : v] as [string, string];
      },
    } as unknown as FetcherResponse['headers'],
    text,
    json: async (): Promise<unknown> => JSON.parse(await text()),
    arrayBuffer: async () => {
      used = true;
      const b = bytes();
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    },
    clone: () => respond(url, status, statusText, headers, made ?? bytes),
  };
  return response;
}

/**
 * The response with one header's value replaced (`null`: gone), the rest as it is, clones included.
 * A proxy, not a copy: the body is read through the original, once.
 */
export function withHeader(response: FetcherResponse, name: string, value: string | null): FetcherResponse {
  const own = name.toLowerCase();
  const headers = {
    get: (n: string) => (n.toLowerCase() === own ? value : response.headers.get(n)),
    has: (n: string) => (n.toLowerCase() === own ? value !== null : response.headers.has(n)),
    *[Symbol.iterator]() {
      for (const [k, v] of response.headers as unknown as Iterable<[string, string]>)
        if (k.toLowerCase() !== own) yield [k, v];
        else if (value !== null) yield [k, value];
    },
  } as unknown as FetcherResponse['headers'];
  return proxied(response, { headers, clone: () => withHeader(response.clone(), name, value) });
}

/**
 * The response with its body already parsed (the entity cache read it to keep its entities): the
 * first `json()`, the data source's, gets that object instead of parsing the same bytes again. Only
 * once: a clone or a later read parses the bytes, so no two readers ever share one object.
 */
export function withParsedBody(response: FetcherResponse, parsed: unknown): FetcherResponse {
  let pending = true;
  return proxied(response, {
    json: async (): Promise<unknown> => {
      if (!pending) return response.json();
      pending = false;
      return parsed;
    },
    clone: () => response.clone(),
  });
}

/** `response` with some of its members replaced; the others read from it (methods bound to it). */
function proxied(response: FetcherResponse, overrides: Partial<FetcherResponse>): FetcherResponse {
  return new Proxy(response, {
    get(target, prop) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof FetcherResponse];
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/**
 * One keep-alive pool per subgraph origin (a dead billing never holds catalog's connections), shared
 * by the fetchers a schema reload builds again. After a response deadline the pool is retired: its
 * idle connections are suspect too (a host that vanished leaves them looking open), so the next fetch
 * opens a new connection and meets the connect deadline instead of another whole response deadline.
 * Requests still running on the retired pool finish, or meet their own deadline.
 */
function createPools(connectTimeoutMs: number | undefined) {
  const pools = new Map<string, Pool>();
  return {
    of: (origin: string): Pool => {
      let pool = pools.get(origin);
      if (!pool) {
        // connections as the node:http agent allowed (256 sockets per host); the deadlines are the fetch's own.
        pool = new Pool(origin, { connections: 256, connectTimeout: connectTimeoutMs ?? 10_000, headersTimeout: 0, bodyTimeout: 0 });
        pools.set(origin, pool);
      }
      return pool;
    },
    retire: (origin: string, pool: Pool): void => {
      if (pools.get(origin) !== pool) return;
      pools.delete(origin);
      pool.close().catch(() => undefined);
    },
  };
}

/** A fetcher calls a few URLs (its subgraph's /graphql, /health/ready): each is parsed once, not per fetch. */
function createUrlParser(): (input: string) => URL {
  const parsed = new Map<string, URL>();
  return (input) => {
    let url = parsed.get(input);
    if (!url) {
      if (parsed.size >= 100) parsed.clear();
      parsed.set(input, (url = new URL(input)));
    }
    return url;
  };
}

/** Pools by connect deadline: every fetcher of a process is built with the same one. */
const poolsByConnectTimeout = new Map<number | undefined, ReturnType<typeof createPools>>();

const plainHeaders = (headers: unknown): Record<string, string> =>
  headers && typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function'
    ? Object.fromEntries(headers as Iterable<[string, string]>)
    : ((headers ?? {}) as Record<string, string>);

/** One exchange's handler: the answer read as one buffer, every failure settled once (the first wins: a deadline, or the wire's error). */
function exchange(input: string, connectTimeoutMs: number | undefined, settle: (err: Error | undefined, r?: FetcherResponse) => void) {
  let status = 0;
  let statusText = '';
  let headers: http.IncomingHttpHeaders = {};
  const chunks: Buffer[] = [];
  const handler: Dispatcher.DispatchHandler & { controller?: Dispatcher.DispatchController } = {
    onRequestStart(controller) {
      handler.controller = controller;
    },
    onResponseStart(_c, statusCode, responseHeaders, statusMessage) {
      status = statusCode;
      statusText = statusMessage ?? '';
      headers = responseHeaders;
    },
    onResponseData(_c, chunk) {
      chunks.push(chunk);
    },
    onResponseEnd() {
      settle(undefined, respond(input, status, statusText, headers, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    },
    onResponseError(_c, err) {
      const connect = (err as { code?: string }).code === 'UND_ERR_CONNECT_TIMEOUT' && connectTimeoutMs !== undefined;
      settle(connect ? new SubgraphTimeoutError(connectTimeoutMs, 'connect') : err);
    },
  };
  return handler;
}

/**
 * undici's dispatch API (its lowest level; the major version is pinned in package.json): no web
 * streams, no Readable for the body, no AbortSignal. Against node:http's ClientRequest on this
 * machine it cut the client's CPU per subgraph fetch from ~0.18 to ~0.10 ms (a 2 KB entity fetch,
 * 32 at once); see docs/benchmarks.md.
 */
export function createSubgraphFetcher(options: SubgraphFetcherOptions): Fetcher {
  const urlOf = createUrlParser();
  let pools = poolsByConnectTimeout.get(options.connectTimeoutMs);
  if (!pools) poolsByConnectTimeout.set(options.connectTimeoutMs, (pools = createPools(options.connectTimeoutMs)));
  const { of, retire } = pools;
  return (input, init?: SubgraphFetchInit) =>
    new Promise<FetcherResponse>((resolve, reject) => {
      const url = urlOf(input);
      const pool = of(url.origin);
      const timeoutMs = init?.timeoutMs ?? options.timeoutMs;
      let settled = false;
      const settle = (err: Error | undefined, response?: FetcherResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(response!);
      };
      const handler = exchange(input, options.connectTimeoutMs, settle);
      // A deadline for the whole exchange (queueing, connecting, sending, the answer): one timer.
      const timer = setTimeout(() => {
        const err = new SubgraphTimeoutError(timeoutMs);
        retire(url.origin, pool);
        settle(err);
        // Not started yet (queued for a connection): aborted as soon as it starts.
        if (handler.controller) handler.controller.abort(err);
        else handler.onRequestStart = (controller) => controller.abort(err);
      }, timeoutMs);
      const method = init?.method ?? 'GET';
      const body = (init?.body as string | undefined) ?? null;
      pool.dispatch({ path: url.pathname + url.search, method, headers: plainHeaders(init?.headers), body }, handler);
    });
}
