import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';

export interface ApolloSubscription {
  /** Every result the client delivered, in order (data, error, extensions as Apollo Client gives them). */
  results: ApolloClient.SubscribeResult<any>[];
  /** Resolves with the n-th result (1-based). */
  nth(n: number, timeoutMs?: number): Promise<ApolloClient.SubscribeResult<any>>;
  /** Resolves when the observable errors or completes. */
  ended: Promise<unknown>;
  /** Unsubscribes: Apollo Client aborts the HTTP request. */
  stop(): void;
}

/**
 * Apollo Client 4 with a plain HttpLink, as a mobile or web app uses it when WebSockets are not an
 * option: HttpLink sends subscriptions with `Accept: multipart/mixed;subscriptionSpec=1.0`.
 */
export function apolloHttpClient(url: string, token?: string, headers: Record<string, string> = {}) {
  const client = new ApolloClient({
    link: new HttpLink({ uri: url, headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) } }),
    cache: new InMemoryCache(),
    // Two identical subscriptions are two streams here (the tests count them).
    queryDeduplication: false,
  });
  return {
    client,
    subscribe(query: string, variables: Record<string, unknown> = {}): ApolloSubscription {
      const results: ApolloClient.SubscribeResult<any>[] = [];
      const waiters: { n: number; resolve: (r: ApolloClient.SubscribeResult<any>) => void }[] = [];
      let resolveEnded: (v: unknown) => void = () => {};
      const ended = new Promise((r) => (resolveEnded = r));
      const subscription = client.subscribe({ query: gql(query), variables, fetchPolicy: 'no-cache' }).subscribe({
        next: (value) => {
          results.push(value);
          for (const w of waiters.filter((w) => w.n <= results.length)) w.resolve(results[w.n - 1]!);
        },
        error: (err) => resolveEnded(err),
        complete: () => resolveEnded(undefined),
      });
      return {
        results,
        ended,
        stop: () => subscription.unsubscribe(),
        nth: (n, timeoutMs = 15_000) =>
          new Promise((resolve, reject) => {
            if (results.length >= n) {
              resolve(results[n - 1]!);
              return;
            }
            const timer = setTimeout(() => reject(new Error(`timed out waiting for result ${n} (got ${results.length})`)), timeoutMs);
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
    stop: () => client.stop(),
  };
}

/** The GraphQL error codes an Apollo Client result carries (GraphQL errors or protocol errors alike). */
export function errorCodes(result: { error?: unknown } | undefined): unknown[] {
  const errors = (result?.error as { errors?: { extensions?: { code?: unknown } }[] } | undefined)?.errors ?? [];
  return errors.map((e) => e.extensions?.code);
}
