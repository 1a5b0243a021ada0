import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import type postgres from 'postgres';
import { interceptStatements } from '../sql-intercept.js';
import { tracerFor, tracingEnabled } from './tracing.js';

export type SqlRole = 'primary' | 'replica' | 'background';

/**
 * SQL latency and pool usage per role. The families are made with the database (before the
 * service's registry exists) and registered by the service that owns it.
 */
export interface SqlTelemetry {
  service: string;
  duration: Histogram<'role' | 'outcome'>;
  openConnections: Gauge<'role'>;
  maxConnections: Gauge<'role'>;
  inFlight: Gauge<'role'>;
  /** From the driver's `debug` hook: a statement was built on connection `id`. */
  connectionUsed(role: SqlRole, id: number): void;
  /** From the driver's `onclose` hook. */
  connectionClosed(role: SqlRole, id: number): void;
  register(registry: Registry): void;
}

export function createSqlTelemetry(service: string): SqlTelemetry {
  const duration = new Histogram({
    name: 'db_statement_duration_seconds',
    help: 'SQL statement latency as the service sees it (pool wait included), by role and outcome.',
    labelNames: ['role', 'outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [],
  });
  /*
   * postgres.js keeps its pool's queues private, so "open" counts connections that have run a
   * statement and not closed since (debug + onclose hooks), and busy-ness is approximated by
   * statements in flight; idle = open - busy only when statements are not pipelined.
   */
  const open = new Map<SqlRole, Set<number>>();
  const openConnections = new Gauge({
    name: 'db_pool_connections_open',
    help: 'Connections open in the pool, by role.',
    labelNames: ['role'] as const,
    registers: [],
    collect() {
      for (const role of ['primary', 'replica', 'background'] as const) this.set({ role }, open.get(role)?.size ?? 0);
    },
  });
  const maxConnections = new Gauge({
    name: 'db_pool_connections_max',
    help: 'Pool size limit, by role.',
    labelNames: ['role'] as const,
    registers: [],
  });
  const inFlight = new Gauge({
    name: 'db_statements_in_flight',
    help: 'SQL statements sent and not yet answered (or waiting for a connection), by role.',
    labelNames: ['role'] as const,
    registers: [],
  });
  for (const role of ['primary', 'replica', 'background'] as const) inFlight.set({ role }, 0);
  return {
    service,
    duration,
    openConnections,
    maxConnections,
    inFlight,
    connectionUsed(role, id) {
      let set = open.get(role);
      if (!set) open.set(role, (set = new Set()));
      set.add(id);
    },
    connectionClosed(role, id) {
      open.get(role)?.delete(id);
    },
    register(registry) {
      for (const m of [duration, openConnections, maxConnections, inFlight]) registry.registerMetric(m);
    },
  };
}

const operationOf = (text: string) => /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? 'SQL';

/**
 * The client Drizzle is given, timing every statement and (when tracing) wrapping it in a span,
 * transactions included (platform/sql-intercept.ts says why a wrapper). Statements are
 * parameterized, so the span's query text carries no values.
 */
export function instrumentSql(client: postgres.Sql, role: SqlRole, telemetry: SqlTelemetry): postgres.Sql {
  const tracer = tracerFor(telemetry.service);
  const database = (client as { options?: { database?: string } }).options?.database ?? '';

  const observe = (text: string, pending: Promise<unknown>): Promise<unknown> => {
    const started = performance.now();
    telemetry.inFlight.inc({ role });
    // Only inside a trace: background polling (outbox relay, consumers) would otherwise make a root trace per statement.
    const span =
      tracingEnabled() && trace.getActiveSpan()
        ? tracer.startSpan(`${operationOf(text)} ${database}`, {
            kind: SpanKind.CLIENT,
            attributes: {
              'service.name': telemetry.service,
              'db.system.name': 'postgresql',
              'db.namespace': database,
              'db.operation.name': operationOf(text),
              'db.query.text': text,
              'supergraph.db.role': role,
            },
          })
        : undefined;
    const done = (outcome: 'ok' | 'error', err?: unknown) => {
      telemetry.inFlight.dec({ role });
      telemetry.duration.observe({ role, outcome }, (performance.now() - started) / 1000);
      if (span) {
        if (err) span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
        span.end();
      }
    };
    return pending.then(
      (rows) => (done('ok'), rows),
      (err: unknown) => {
        done('error', err);
        throw err;
      },
    );
  };
  return interceptStatements(client, (text, send) => observe(text, send()), true);
}
