import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import type { Client, ExecutionResult } from 'graphql-ws';

export interface TestSubscription {
  /** Every result received so far, in order. */
  results: ExecutionResult<any, { eventId?: string }>[];
  /** Resolves with the n-th result (1-based), waiting up to timeoutMs for it. */
  nth(n: number, timeoutMs?: number): Promise<ExecutionResult<any, { eventId?: string }>>;
  /** Resolves when the server ends the subscription (with the error, if any). */
  ended: Promise<unknown>;
  stop(): void;
}

export interface TestWsClient {
  client: Client;
  subscribe(query: string, variables?: Record<string, unknown>): TestSubscription;
  /** Resolves with the close event's code once the socket closes. */
  closed: Promise<number>;
  dispose(): Promise<void>;
}

/** A real graphql-ws client over a real WebSocket (the `ws` package), no retries. */
export function wsClient(httpUrl: string, token?: string): TestWsClient {
  let resolveClosed: (code: number) => void = () => {};
  const closed = new Promise<number>((r) => (resolveClosed = r));
  const client = createClient({
    url: httpUrl.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    retryAttempts: 0,
    lazy: false,
    on: { closed: (event) => resolveClosed((event as { code: number }).code) },
    onNonLazyError: () => {},
  });
  return {
    client,
    closed,
    subscribe(query, variables = {}) {
      const results: TestSubscription['results'] = [];
      const waiters: { n: number; resolve: (r: ExecutionResult) => void }[] = [];
      let resolveEnded: (v: unknown) => void = () => {};
      const ended = new Promise((r) => (resolveEnded = r));
      const stop = client.subscribe(
        { query, variables },
        {
          next: (value) => {
            results.push(value as never);
            for (const w of waiters.filter((w) => w.n <= results.length)) w.resolve(results[w.n - 1]!);
          },
          error: (err) => resolveEnded(err),
          complete: () => resolveEnded(undefined),
        },
      );
      return {
        results,
        ended,
        stop,
        nth: (n, timeoutMs = 10_000) =>
          new Promise((resolve, reject) => {
            if (results.length >= n) {
              resolve(results[n - 1]!);
              return;
            }
            const timer = setTimeout(
              () => reject(new Error(`only ${results.length} of ${n} results within ${timeoutMs} ms: ${JSON.stringify(results)}`)),
              timeoutMs,
            );
            waiters.push({
              n,
              resolve: (r) => {
                clearTimeout(timer);
                resolve(r);
              },
            });
          }),
      };
    },
    dispose: async () => {
      await client.dispose();
    },
  };
}
