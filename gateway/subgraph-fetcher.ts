import http from 'node:http';
import https from 'node:https';
import type { Fetcher, FetcherResponse } from '@apollo/utils.fetcher';

/**
 * The gateway's fetch to subgraphs over node:http with a keep-alive pool, instead of the global
 * fetch. Measured with `npm run bench` (see README, Benchmarks): the global fetch spent a large
 * part of the gateway's CPU in web streams and per-call AbortSignal timers; here the body is read
 * as one buffer and the timeout is the socket's. Same contract as the Fetcher Apollo expects.
 */
export interface SubgraphFetcherOptions {
  /** Deadline of one exchange unless the call names its own. */
  timeoutMs: number;
}

/** A fetch's init, plus a deadline of its own (queries and mutations get different ones). */
export type SubgraphFetchInit = Parameters<Fetcher>[1] & { timeoutMs?: number };

/** Thrown when a fetch passes its deadline (also a connect that never completes: a blackholed host). */
export class SubgraphTimeoutError extends Error {
  override name = 'TimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`subgraph request timed out after ${timeoutMs} ms`);
  }
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

export function createSubgraphFetcher(options: SubgraphFetcherOptions): Fetcher {
  return (input, init?: SubgraphFetchInit) =>
    new Promise<FetcherResponse>((resolve, reject) => {
      const url = new URL(input);
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
      const timer = setTimeout(() => req.destroy(new SubgraphTimeoutError(timeoutMs)), timeoutMs);
      const done = () => {
        clearTimeout(timer);
        return true;
      };
      req.on('error', (err) => done() && reject(err));
      req.end(body);
    });
}
