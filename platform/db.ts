import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import type { DatabaseConfig } from './config.js';
import type { Logger } from './logger.js';
import { formatLsn, parseLsn } from './lsn.js';
import { withPrimaryFallback } from './replica-failover.js';
import { createReplicaMonitor } from './replica-monitor.js';
import type { ReplicaStatus } from './replica-monitor.js';
import { createSqlTelemetry, instrumentSql } from './observability/sql.js';
import type { SqlTelemetry } from './observability/sql.js';

export type { ReplicaState, ReplicaStatus } from './replica-monitor.js';

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
  /**
   * A read connection for one request (the caller keeps it for the whole request): a replica in
   * rotation that has replayed `minLsn` (round robin among them), else the primary.
   */
  pickReader(minLsn?: bigint): Db<S>;
  /**
   * Where the primary's WAL is now, as `X/Y`; read after a commit it is at or past that commit.
   * Undefined without replicas (nobody needs it then).
   */
  commitLsn(): Promise<string | undefined>;
  /** Each replica's state from the last health poll (no query): for /health/ready and metrics. */
  replicaStatuses(): ReplicaStatus[];
  ping(): Promise<{ primary: boolean; replicas: ReplicaStatus[] }>;
  /** SQL latency and pool metrics (platform/observability/sql.ts), registered by the service. */
  telemetry: SqlTelemetry;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  applicationName: string;
  log?: Logger;
}

function connect(url: string, max: number, role: Role, appName: string, telemetry: SqlTelemetry) {
  telemetry.maxConnections.inc({ role }, max);
  return postgres(url, {
    max,
    onnotice: () => {},
    idle_timeout: 30,
    connect_timeout: 10,
    // application_name lets the servers themselves attribute traffic (pg_stat_activity).
    connection: { application_name: `${appName}:${role}` },
    onclose: (connection) => telemetry.connectionClosed(role, connection),
    debug: (connection, query, params) => {
      telemetry.connectionUsed(role, connection);
      if (role !== 'background') sqlStatementCounter.total += 1;
      sqlStatementCounter[role] += 1;
      sqlStatementCounter.listener?.({ application: appName, role, query, params });
    },
  });
}

/** Whether the server answers a trivial query now. */
async function reachable(client: postgres.Sql): Promise<boolean> {
  try {
    await client`select 1`;
    return true;
  } catch {
    return false;
  }
}

export function createDatabase<S extends Record<string, unknown>>(
  config: Pick<DatabaseConfig, 'DATABASE_URL' | 'DATABASE_REPLICA_URLS' | 'DATABASE_POOL_MAX'> &
    Partial<Pick<DatabaseConfig, 'DATABASE_REPLICA_MAX_LAG_MS' | 'DATABASE_REPLICA_POLL_MS'>>,
  schema: S,
  options: DatabaseOptions,
): Database<S> {
  const telemetry = createSqlTelemetry(options.applicationName);
  const primaryClient = connect(config.DATABASE_URL, config.DATABASE_POOL_MAX, 'primary', options.applicationName, telemetry);
  const replicaClients = config.DATABASE_REPLICA_URLS.map((url) =>
    connect(url, config.DATABASE_POOL_MAX, 'replica', options.applicationName, telemetry),
  );
  const backgroundClient = connect(config.DATABASE_URL, 2, 'background', options.applicationName, telemetry);
  // Drizzle gets timed (and, when tracing, traced) clients; the driver's own hooks count connections.
  const primary = drizzle(instrumentSql(primaryClient, 'primary', telemetry), { schema });
  const background = drizzle(instrumentSql(backgroundClient, 'background', telemetry), { schema });
  const monitor = replicaClients.length
    ? createReplicaMonitor({
        primaryUrl: config.DATABASE_URL,
        replicaUrls: config.DATABASE_REPLICA_URLS,
        applicationName: options.applicationName,
        pollMs: config.DATABASE_REPLICA_POLL_MS ?? 100,
        maxLagMs: config.DATABASE_REPLICA_MAX_LAG_MS ?? 10_000,
        ...(options.log ? { log: options.log } : {}),
      })
    : undefined;
  /*
   * Not Drizzle's withReplicas(): it picks a random replica for every single query, so two reads of
   * one request could see two different moments (a row on one replica and not yet on the next).
   * A request here keeps the reader it got first (RequestDb), chosen by health and consistency.
   */
  const replicas = replicaClients.map((client, i) =>
    drizzle(instrumentSql(withPrimaryFallback(client, primaryClient, monitor!, i), 'replica', telemetry), { schema }),
  );
  let next = 0;

  return {
    primary,
    replicas,
    background,
    pickReader(minLsn) {
      const candidates = monitor?.eligible(minLsn) ?? [];
      if (candidates.length === 0) return primary;
      next = (next + 1) % candidates.length;
      return replicas[candidates[next]!]!;
    },
    async commitLsn() {
      if (!monitor) return undefined;
      // The write position: after a commit it is at or past the commit record (a commit returns
      // once its WAL is flushed, with synchronous_commit on, the default; with it off, the insert
      // position would be needed). The insert position is avoided otherwise because at a page
      // boundary it points past the next page's header, which a standby reports having replayed
      // only once more WAL follows: on a quiet primary, reads would stay on the primary for seconds.
      const [row] = await primaryClient`select pg_current_wal_lsn()::text as lsn`;
      const lsn = parseLsn(row?.lsn as string | undefined);
      return lsn === undefined ? undefined : formatLsn(lsn);
    },
    replicaStatuses: () => monitor?.statuses() ?? [],
    telemetry,
    async ping() {
      return { primary: await reachable(primaryClient), replicas: monitor?.statuses() ?? [] };
    },
    async close() {
      await monitor?.stop();
      // Replica pools serve reads only and requests have drained by now: no need to wait. (It also
      // sidesteps postgres.js#1097: after a connection error, end() waits out its whole timeout.)
      await Promise.all([
        ...[primaryClient, backgroundClient].map((c) => c.end({ timeout: 5 })),
        ...replicaClients.map((c) => c.end({ timeout: 0 })),
      ]);
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

  /** `minLsn`: a position the caller has seen written (read-your-writes); a replica serves only once past it. */
  constructor(
    private readonly database: Database<S>,
    private readonly minLsn?: bigint,
  ) {}

  /** Called once the operation type is known. */
  useWriteMode(): void {
    this.writeMode = true;
  }

  get read(): Db<S> {
    if (this.writeMode) return this.database.primary;
    this.reader ??= this.database.pickReader(this.minLsn);
    return this.reader;
  }

  get write(): Db<S> {
    return this.database.primary;
  }

  /** Whether any read of this request went to a replica (a fallback to the primary counts too: it was picked). */
  get readFromReplica(): boolean {
    return this.reader !== undefined && this.reader !== this.database.primary;
  }
}

/**
 * A hot statement built once per database handle (Drizzle's `.prepare()`) instead of on every call:
 * building a query (SQL text, parameter list, row mapping) costs more CPU than sending it, and the
 * DataLoader statements run several times per request. Handles are few and long-lived (primary,
 * replicas); a transaction is a handle of its own, for which this is no worse than building.
 * Parameters are `sql.placeholder`s filled at `.execute({...})`; lists go in as one array
 * (`= any($1::uuid[])`), so a statement's text is the same whatever the batch size.
 */
export function preparedPer<D extends object, P>(build: (db: D) => P): (db: D) => P {
  const prepared = new WeakMap<D, P>();
  return (db) => {
    let statement = prepared.get(db);
    if (!statement) prepared.set(db, (statement = build(db)));
    return statement;
  };
}
