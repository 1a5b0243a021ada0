import http from 'node:http';
import https from 'node:https';
import type { Fetcher, FetcherResponse } from '@apollo/utils.fetcher';

/**
 * The gateway's fetch to subgraphs over node:http with a keep-alive pool, instead of the global
 * fetch. Measured with `npm run bench` (see docs/benchmarks.md): the global fetch spent a large
 * part of the gateway's CPU in web streams and per-call AbortSignal timers; here the body is read
 * as one buffer and the timeout is the socket's. Same contract as the Fetcher Apollo expects.
 */
export interface SubgraphFetcherOptions {
  /** Deadline of one exchange unless the call names its own. */
  timeoutMs: number;
  /** Deadline of opening a new connection (a pooled one is already open), within the exchange's. */
  connectTimeoutMs?: number;
}

/** A fetch's init, plus a deadline of its own (queries and mutations get different ones). */
export type SubgraphFetchInit = Parameters<Fetcher>[1] & { timeoutMs?: number };

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
 * A connect deadline apart from the response deadline: a host that drops packets never completes
 * the handshake, and waiting the whole response deadline for that costs every user behind it
 * seconds before the breaker opens. A pooled keep-alive socket is already connected: no timer.
 */
function watchConnect(req: http.ClientRequest, connectTimeoutMs: number | undefined): void {
  if (connectTimeoutMs === undefined) return;
  req.once('socket', (socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(() => req.destroy(new SubgraphTimeoutError(connectTimeoutMs, 'connect')), connectTimeoutMs);
    const clear = () => clearTimeout(timer);
    socket.once('connect', clear);
    socket.once('close', clear);
  });
}

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, scheduling: 'lifo' }),
  https: new https.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, scheduling: 'lifo' }),
};

/**
 * The response as @apollo/utils.fetcher's FetcherResponse, the structural contract Apollo defines
 * so that any fetch implementation can serve it (node-fetch, make-fetch-happen, ...): implementing
 * it is the public path. Not a WHATWG `Response`: `new Response(buffer)` wraps the buffer in a web
 * ReadableStream that `text()` reads back through the stream machinery, the per-call cost this
 * module exists to avoid; the headers are a read view of Node's own object for the same reason
 * (Apollo only reads them), hence the one cast.
 */
export function respond(url: string, status: number, statusText: string, headers: http.IncomingHttpHeaders, body: Buffer): FetcherResponse {
  let used = false;
  const text = async () => {
    used = true;
    return body.toString('utf8');
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
      return body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer;
    },
    clone: () => respond(url, status, statusText, headers, body),
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
  return new Proxy(response, {
    get(target, prop) {
      if (prop === 'headers') return headers;
      if (prop === 'clone') return () => withHeader(target.clone(), name, value);
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/**
 * After a response deadline, the idle pooled sockets to the same address are suspect too (a host
 * that vanished leaves them looking open): closed, so the next fetch opens a connection and meets
 * the connect deadline instead of another whole response deadline.
 */
function dropIdlePeers(agent: http.Agent, socket: { remoteAddress?: string; remotePort?: number } | null): void {
  if (!socket?.remoteAddress) return;
  for (const idle of Object.values(agent.freeSockets).flat()) {
    if (idle?.remoteAddress !== socket.remoteAddress || idle.remotePort !== socket.remotePort) continue;
    idle.destroy();
  }
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

export function createSubgraphFetcher(options: SubgraphFetcherOptions): Fetcher {
  const urlOf = createUrlParser();
  return (input, init?: SubgraphFetchInit) =>
    new Promise<FetcherResponse>((resolve, reject) => {
      const url = urlOf(input);
      const secure = url.protocol === 'https:';
      const headers = init?.headers ?? {};
      const body = init?.body as string | undefined;
      const timeoutMs = init?.timeoutMs ?? options.timeoutMs;
      const req = (secure ? https : http).request(
        url,
        {
          method: init?.method ?? 'GET',
          headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
          agent: secure ? agents.https : agents.http,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on(
            'end',
            () =>
              done() &&
              resolve(
                respond(
                  input,
                  res.statusCode ?? 0,
                  res.statusMessage ?? '',
                  res.headers,
                  chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
                ),
              ),
          );
          res.on('error', reject);
        },
      );
      // A deadline for the whole exchange, as AbortSignal.timeout gave the fetch (one timer, no listeners).
      const timer = setTimeout(() => {
        dropIdlePeers(secure ? agents.https : agents.http, req.socket);
        req.destroy(new SubgraphTimeoutError(timeoutMs));
      }, timeoutMs);
      if (options.connectTimeoutMs !== undefined && options.connectTimeoutMs < timeoutMs) watchConnect(req, options.connectTimeoutMs);
      const done = () => {
        clearTimeout(timer);
        return true;
      };
      req.on('error', (err) => done() && reject(err));
      req.end(body);
    });
}
