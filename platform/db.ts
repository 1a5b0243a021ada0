import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type { DatabaseConfig } from './config.js';

/**
 * Statement counts per process, taken in the driver (every statement sent to any server), so
 * tests and benchmarks count real round trips rather than guessing from resolvers.
 */
export const sqlStatementCounter = {
  /** Statements of request traffic (primary + replica). */
  total: 0,
  primary: 0,
  replica: 0,
  /** Statements of background work (outbox relay, event consumers), kept out of `total`. */
  background: 0,
  /** Sees every statement with its parameters (tests EXPLAIN what the services really send). */
  listener: undefined as undefined | ((statement: { application: string; role: Role; query: string; params: unknown[] }) => void),
};

type Role = 'primary' | 'replica' | 'background';

export type Db<S extends Record<string, unknown>> = PostgresJsDatabase<S>;

export interface Database<S extends Record<string, unknown>> {
  primary: Db<S>;
  replicas: Db<S>[];
  /** The primary through a small pool of its own, for background work (relays, consumers). */
  background: Db<S>;
  /** A read connection for one request: always the same replica within the request. */
  pickReader(): Db<S>;
  ping(): Promise<{ primary: boolean; replicas: boolean[] }>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  applicationName: string;
}

function connect(url: string, max: number, role: Role, appName: string) {
  return postgres(url, {
    max,
    onnotice: () => {},
    idle_timeout: 30,
    connect_timeout: 10,
    // application_name lets the servers themselves attribute traffic (pg_stat_activity).
    connection: { application_name: `${appName}:${role}` },
    debug: (_connection, query, params) => {
      if (role !== 'background') sqlStatementCounter.total += 1;
      sqlStatementCounter[role] += 1;
      sqlStatementCounter.listener?.({ application: appName, role, query, params });
    },
  });
}

export function createDatabase<S extends Record<string, unknown>>(
  config: Pick<DatabaseConfig, 'DATABASE_URL' | 'DATABASE_REPLICA_URLS' | 'DATABASE_POOL_MAX'>,
  schema: S,
  options: DatabaseOptions,
): Database<S> {
  const primaryClient = connect(config.DATABASE_URL, config.DATABASE_POOL_MAX, 'primary', options.applicationName);
  const replicaClients = config.DATABASE_REPLICA_URLS.map((url) =>
    connect(url, config.DATABASE_POOL_MAX, 'replica', options.applicationName),
  );
  const backgroundClient = connect(config.DATABASE_URL, 2, 'background', options.applicationName);
  const primary = drizzle(primaryClient, { schema });
  const background = drizzle(backgroundClient, { schema });
  const replicas = replicaClients.map((client) => drizzle(client, { schema }));
  let next = 0;

  const ping = async (client: postgres.Sql) => {
    try {
      await client`select 1`;
      return true;
    } catch {
      return false;
    }
  };

  return {
    primary,
    replicas,
    background,
    pickReader() {
      if (replicas.length === 0) return primary;
      next = (next + 1) % replicas.length;
      return replicas[next]!;
    },
    async ping() {
      const [p, ...r] = await Promise.all([ping(primaryClient), ...replicaClients.map(ping)]);
      return { primary: p!, replicas: r };
    },
    async close() {
      await Promise.all([primaryClient, backgroundClient, ...replicaClients].map((c) => c.end({ timeout: 5 })));
    },
  };
}

/**
 * The database handle a resolver sees. Reads go to one replica for the whole request, except in
 * mutations, where every read uses the primary (a mutation must see what it just wrote).
 */
export class RequestDb<S extends Record<string, unknown>> {
  private reader: Db<S> | undefined;
  private writeMode = false;

  constructor(private readonly database: Database<S>) {}

  /** Called once the operation type is known. */
  useWriteMode(): void {
    this.writeMode = true;
  }

  get read(): Db<S> {
    if (this.writeMode) return this.database.primary;
    this.reader ??= this.database.pickReader();
    return this.reader;
  }

  get write(): Db<S> {
    return this.database.primary;
  }
}
