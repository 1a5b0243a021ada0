import type postgres from 'postgres';

/**
 * Sends the intercepted statement (same text, parameters, options and result mode) to the client
 * it was meant for (inside a transaction: that transaction's connection), or to `target` instead
 * (a replica's read sent to the primary).
 */
export type SendStatement = (target?: postgres.Sql) => Promise<unknown>;

/** Runs one statement: calls `send` (once, or again on another client) and returns its result. */
export type AroundStatement = (text: string, send: SendStatement) => Promise<unknown>;

/**
 * The one place that wraps a postgres.js client for Drizzle, because neither library has a public
 * hook around a statement's execution: postgres.js's `debug` option fires as a statement is sent,
 * with no outcome or duration, and Drizzle's `logger.logQuery` fires before it runs. SQL timing,
 * tracing spans and replica failover need the outcome, so Drizzle gets this client, whose `unsafe`
 * runs every statement through `around`.
 *
 * It relies on how Drizzle's postgres-js session uses its client (drizzle-orm/postgres-js/session.js):
 * every statement is `client.unsafe(text, params, options)`, then awaited (rows as objects) or
 * `.values()` (rows as arrays); transactions are `begin(fn)` / `begin(options, fn)` and
 * `savepoint(fn)` / `savepoint(name, fn)`, whose callback client is wrapped the same way when
 * `transactions` is set. Everything else (`options`, which Drizzle's constructor edits) is the
 * client's own. The replica, SQL metrics and tracing tests exercise each of these paths.
 */
export function interceptStatements(client: postgres.Sql, around: AroundStatement, transactions: boolean): postgres.Sql {
  type Unsafe = (text: string, params?: unknown, options?: unknown) => ReturnType<postgres.Sql['unsafe']>;
  const unsafe = (text: string, params?: unknown[], options?: unknown) => {
    const run = (values: boolean) =>
      around(text, (target = client) => {
        const query = (target.unsafe as Unsafe)(text, params, options);
        return values ? query.values() : query;
      });
    // Lazy like the driver's own query: nothing is sent until it is awaited or `.values()` is called.
    let started: Promise<unknown> | undefined;
    return {
      then: (onFulfilled?: (v: unknown) => unknown, onRejected?: (e: unknown) => unknown) =>
        (started ??= run(false)).then(onFulfilled, onRejected),
      values: () => (started ??= run(true)),
    };
  };
  const withWrappedCallback =
    (method: 'begin' | 'savepoint') =>
    (...args: unknown[]) => {
      const fn = args.pop() as (tx: postgres.Sql) => unknown;
      return (client as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args, (tx: postgres.Sql) =>
        fn(interceptStatements(tx, around, true)),
      );
    };
  const overrides = new Map<string | symbol, unknown>([['unsafe', unsafe]]);
  if (transactions) overrides.set('begin', withWrappedCallback('begin')).set('savepoint', withWrappedCallback('savepoint'));
  return new Proxy(client, {
    get: (target, prop, receiver): unknown => (overrides.has(prop) ? overrides.get(prop) : Reflect.get(target, prop, receiver)),
  });
}
