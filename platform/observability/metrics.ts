import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Prometheus metrics of one service instance. Each instance has its own registry (not prom-client's
 * global one), so the five services of an in-process run, or two gateways, never share counters.
 * Every series carries `service`; Prometheus adds `instance` and `job` when it scrapes.
 */
export interface ServiceMetrics {
  service: string;
  registry: Registry;
  /** GraphQL operations by operation name and client (at a subgraph: the calling service). */
  requests: Counter<'operation' | 'client'>;
  requestErrors: Counter<'operation' | 'client' | 'code'>;
  requestDuration: Histogram<'operation' | 'client'>;
  /** DataLoader batch sizes by loader (subgraphs). */
  loaderBatchSize: Histogram<'loader'>;
  /** A gauge whose value is read at scrape time. */
  gauge(name: string, help: string, read: () => number): Gauge;
}

const EVENT_LOOP_SAMPLE_MS = 100;

export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createServiceMetrics(service: string): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  // Event-loop lag is sampled by a libuv timer every `eventLoopMonitoringPrecision` ms. prom-client's
  // 10 ms default wakes an idle process 100 times a second (~5 ms of CPU per second per registry,
  // measured with `npm run bench:idle`); 100 ms still catches every stall longer than that.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const registers = [registry];
  return {
    service,
    registry,
    requests: new Counter({
      name: 'graphql_requests_total',
      help: 'GraphQL operations served.',
      labelNames: ['operation', 'client'] as const,
      registers,
    }),
    requestErrors: new Counter({
      name: 'graphql_request_errors_total',
      help: 'Errors in GraphQL responses, by error code (one operation may count several).',
      labelNames: ['operation', 'client', 'code'] as const,
      registers,
    }),
    requestDuration: new Histogram({
      name: 'graphql_request_duration_seconds',
      help: 'GraphQL operation latency, from request to response.',
      labelNames: ['operation', 'client'] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    loaderBatchSize: new Histogram({
      name: 'dataloader_batch_size',
      help: 'Keys per DataLoader batch (one SQL statement each).',
      labelNames: ['loader'] as const,
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
      registers,
    }),
    gauge: (name, help, read) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      }),
  };
}

/**
 * GET /metrics in Prometheus text format on a listener of its own (METRICS_PORT), never on the
 * service's public port: the numbers (operation names, clients, pool sizes) are for Prometheus,
 * which scrapes each instance's own address, and nothing on the public path can reach them.
 */
export async function startMetricsServer(
  metrics: ServiceMetrics,
  port: number,
  host: string,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://x').pathname !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  // A scrape is one short request: no keep-alive connection should hold shutdown up.
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
